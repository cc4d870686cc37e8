//! `cargo run --release --example info`: what this machine offers nvdx.
//!
//! Prints the driver and CUDA version, each GPU with its memory, NVDEC capabilities per codec,
//! bit depth and chroma format, NVENC presence (or why it is absent) and the peer-access
//! matrix. Without a driver it prints the library error and exits with code 1.

use nvdx::{Codec, Context, Device};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> nvdx::Result<()> {
    let (major, minor) = nvdx::device::driver_version()?;
    println!("CUDA driver API {major}.{minor}");
    let devices = Device::all()?;
    if devices.is_empty() {
        println!("no GPU visible");
        return Ok(());
    }
    for d in &devices {
        let (cc_major, cc_minor) = d.compute_capability()?;
        let ctx = Context::primary_on(d)?;
        let (free, total) = ctx.memory_info()?;
        println!(
            "\nGPU {}: {} (sm_{cc_major}{cc_minor}, {} SMs), {:.1} GiB total, {:.1} GiB free, {} {}",
            d.ordinal(),
            d.name()?,
            d.multiprocessor_count()?,
            total as f64 / (1u64 << 30) as f64,
            free as f64 / (1u64 << 30) as f64,
            d.pci_bus_id()?,
            d.uuid_string()?
        );
        print_decode_caps(&ctx);
        print_encode_caps(&ctx);
    }
    if devices.len() > 1 {
        println!("\npeer access (row can access column):");
        print!("      ");
        for d in &devices {
            print!(" GPU{:<2}", d.ordinal());
        }
        println!();
        for a in &devices {
            print!("GPU{:<2} ", a.ordinal());
            for b in &devices {
                let cell = if a == b {
                    "  -  ".to_string()
                } else {
                    match a.can_access_peer(b) {
                        Ok(true) => " yes ".into(),
                        Ok(false) => " no  ".into(),
                        Err(_) => " err ".into(),
                    }
                };
                print!(" {cell}");
            }
            println!();
        }
    }
    Ok(())
}

fn print_decode_caps(ctx: &Context) {
    println!("  NVDEC:");
    match nvdx::decode::capability_table(ctx) {
        Ok(rows) => {
            for r in rows {
                println!("    {r}");
            }
        }
        Err(e) => println!("    unavailable: {e}"),
    }
}

fn print_encode_caps(ctx: &Context) {
    use nvdx::encode::{version, Encoder};
    let api = match version::driver_api_version() {
        Ok(v) => v,
        Err(e) => {
            println!("  NVENC: absent: {e}");
            return;
        }
    };
    println!(
        "  NVENC: driver API {api}, nvdx sessions use {}",
        version::session_api_version()
            .map(|v| v.to_string())
            .unwrap_or_else(|e| e.to_string())
    );
    for codec in [Codec::H264, Codec::Hevc, Codec::Av1] {
        match Encoder::capabilities(ctx, codec) {
            Ok(c) => println!("    {codec}: {c:?}"),
            Err(e) if nvdx::encode::is_no_encoder(&e) => {
                println!("    no encode engine: {e}");
                return;
            }
            Err(e) => println!("    {codec}: unavailable: {e}"),
        }
    }
}
