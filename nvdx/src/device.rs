//! GPUs: enumeration and properties.

use std::ffi::c_int;
use std::sync::OnceLock;

use nvdx_sys::cuda::{CUdevice, CUdevice_attribute, CUresult, CudaFns};

use crate::cu;
use crate::error::{Error, Result};

/// The CUDA driver table, loaded and initialised (`cuInit`) once per process.
pub(crate) fn driver() -> Result<&'static CudaFns> {
    // Every driver call goes through here (several a frame): once the table is loaded and
    // initialised, one atomic load returns it.
    static READY: OnceLock<&'static CudaFns> = OnceLock::new();
    if let Some(api) = READY.get() {
        return Ok(api);
    }
    let api = driver_init()?;
    let _ = READY.set(api);
    Ok(api)
}

/// The first call's work of [`driver`]: load the table, run `cuInit` once.
fn driver_init() -> Result<&'static CudaFns> {
    static INIT: OnceLock<std::result::Result<(), CUresult>> = OnceLock::new();
    let api = nvdx_sys::cuda()?;
    let init = INIT.get_or_init(|| cu::init(api));
    match init {
        Ok(()) => Ok(api),
        Err(status) => {
            if !api.has_cuInit() {
                return Err(Error::MissingSymbol(nvdx_sys::MissingSymbol {
                    library: "libcuda",
                    symbol: "cuInit",
                }));
            }
            let mut e = Error::cuda("cuInit", *status);
            if let Error::Cuda { description, .. } = &mut e {
                if *status == CUresult::CUDA_ERROR_NO_DEVICE {
                    description.push_str(" (no GPU is visible: check CUDA_VISIBLE_DEVICES and that the driver sees the device with nvidia-smi)");
                }
            }
            Err(e)
        }
    }
}

/// The installed driver's CUDA version as `(major, minor)`, e.g. `(13, 0)`.
pub fn driver_version() -> Result<(u32, u32)> {
    let v = cu::driver_get_version()?.max(0) as u32;
    Ok((v / 1000, (v % 1000) / 10))
}

/// A GPU, by ordinal. Cheap to copy; holds no driver resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Device {
    ordinal: u32,
    raw: CUdevice,
}

impl Device {
    /// Number of GPUs the driver exposes (0 on a machine with a driver but no GPU).
    pub fn count() -> Result<u32> {
        match driver() {
            Ok(_) => {}
            Err(Error::Cuda { code, .. }) if code == CUresult::CUDA_ERROR_NO_DEVICE.0 => {
                return Ok(0)
            }
            Err(e) => return Err(e),
        }
        Ok(cu::device_get_count()?.max(0) as u32)
    }

    /// The GPU with this ordinal; an error naming the count when it does not exist.
    pub fn get(ordinal: u32) -> Result<Device> {
        let count = Device::count()?;
        if ordinal >= count {
            return Err(Error::InvalidArgument(format!(
                "GPU {ordinal} does not exist: the driver exposes {count} GPU(s) (ordinals 0..{count}; check CUDA_VISIBLE_DEVICES)"
            )));
        }
        // ordinal < count
        let raw = cu::device_get(ordinal as c_int)?;
        Ok(Device { ordinal, raw })
    }

    /// All GPUs.
    pub fn all() -> Result<Vec<Device>> {
        (0..Device::count()?).map(Device::get).collect()
    }

    /// The ordinal this device was opened with.
    pub fn ordinal(&self) -> u32 {
        self.ordinal
    }

    /// The raw `CUdevice` handle.
    pub fn raw(&self) -> CUdevice {
        self.raw
    }

    /// Marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    pub fn name(&self) -> Result<String> {
        let mut buf = [0 as core::ffi::c_char; 256];
        cu::device_get_name(&mut buf, self.raw)?;
        Ok(c_chars_to_string(&buf))
    }

    /// The device's UUID as 16 bytes.
    pub fn uuid(&self) -> Result<[u8; 16]> {
        let id = cu::device_get_uuid(self.raw)?;
        Ok(id.bytes.map(|b| b as u8))
    }

    /// The UUID formatted as `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as nvidia-smi prints it.
    pub fn uuid_string(&self) -> Result<String> {
        let u = self.uuid()?;
        let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!(
            "GPU-{}-{}-{}-{}-{}",
            h[0..4].concat(),
            h[4..6].concat(),
            h[6..8].concat(),
            h[8..10].concat(),
            h[10..16].concat()
        ))
    }

    /// PCI bus id, e.g. `0000:1B:00.0`.
    pub fn pci_bus_id(&self) -> Result<String> {
        let mut buf = [0 as core::ffi::c_char; 64];
        cu::device_get_pci_bus_id(&mut buf, self.raw)?;
        Ok(c_chars_to_string(&buf))
    }

    /// Compute capability `(major, minor)`, e.g. `(9, 0)` for Hopper.
    pub fn compute_capability(&self) -> Result<(u32, u32)> {
        Ok((
            self.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?
                as u32,
            self.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?
                as u32,
        ))
    }

    /// Total device memory in bytes.
    pub fn total_memory(&self) -> Result<usize> {
        cu::device_total_mem(self.raw)
    }

    /// Number of streaming multiprocessors.
    pub fn multiprocessor_count(&self) -> Result<u32> {
        Ok(self.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32)
    }

    /// Any `CU_DEVICE_ATTRIBUTE_*` value.
    pub fn attribute(&self, attr: CUdevice_attribute) -> Result<i32> {
        cu::device_get_attribute(attr, self.raw)
    }

    /// Whether this device can read and write `peer`'s memory directly (`cuDeviceCanAccessPeer`).
    pub fn can_access_peer(&self, peer: &Device) -> Result<bool> {
        cu::device_can_access_peer(self.raw, peer.raw)
    }
}

pub(crate) fn c_chars_to_string(buf: &[core::ffi::c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_stop_at_nul() {
        let buf = [b'H' as core::ffi::c_char, b'1' as _, 0, b'x' as _];
        assert_eq!(c_chars_to_string(&buf), "H1");
        assert_eq!(c_chars_to_string(&[]), "");
    }
}
