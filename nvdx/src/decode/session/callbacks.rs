//! The parser's C callbacks: `extern "C"` trampolines that forward to a [`ParserCallbacks`]
//! implementation without ever unwinding into the parser.

use std::any::Any;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use nvdx_sys::cuvid::{
    CUVIDEOFORMAT, CUVIDOPERATINGPOINTINFO, CUVIDPARSERDISPINFO, CUVIDPICPARAMS,
    CUVIDSEIMESSAGEINFO,
};

use crate::error::{Error, Result};

/// What the parser's callbacks do; implemented by the session, and by fakes in tests.
pub(crate) trait ParserCallbacks {
    /// New sequence header; returns the decode surface count for the parser (>1 overrides).
    fn on_sequence(&mut self, format: &CUVIDEOFORMAT) -> Result<c_int>;
    /// A picture is ready to be decoded.
    fn on_decode(&mut self, pic: &mut CUVIDPICPARAMS) -> Result<()>;
    /// A picture is ready to be displayed (`None` at end of stream).
    fn on_display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<()>;
    /// AV1 operating point choice; returns the value for the parser.
    fn on_operating_point(&mut self, info: &CUVIDOPERATINGPOINTINFO) -> Result<c_int>;
    /// SEI messages of a picture.
    fn on_sei(&mut self, info: &CUVIDSEIMESSAGEINFO) -> Result<()>;
    /// Whether an earlier callback failed (then every callback stops the parser).
    fn failed(&self) -> bool;
    /// Records a failure.
    fn fail(&mut self, error: Error);
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs one callback on the state behind `user`, never unwinding: errors and panics are stored
/// on the state and turn into 0, which makes the parser stop.
///
/// # Safety
/// `user` must be null or point to a live `H` that nothing else references during the call.
unsafe fn guarded<H: ParserCallbacks>(
    user: *mut c_void,
    name: &'static str,
    f: impl FnOnce(&mut H) -> Result<c_int>,
) -> c_int {
    let state = user.cast::<H>();
    if state.is_null() {
        return 0;
    }
    // SAFETY: the caller guarantees `state` is live and unaliased for the call.
    if unsafe { (*state).failed() } {
        return 0;
    }
    // SAFETY: as above; the reference lives only inside the closure.
    let outcome = catch_unwind(AssertUnwindSafe(|| f(unsafe { &mut *state })));
    let error = match outcome {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(p) => Error::Decode(format!(
            "panic in the {name} callback: {}",
            panic_message(p.as_ref())
        )),
    };
    // Recording must not unwind either (a panicking Drop of the error, a panicking `fail`).
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as above; the closure's borrow has ended.
        unsafe { (*state).fail(error) }
    }));
    0
}

pub(crate) unsafe extern "C" fn sequence_cb<H: ParserCallbacks>(
    user: *mut c_void,
    format: *mut CUVIDEOFORMAT,
) -> c_int {
    // SAFETY: the parser passes the pUserData it was created with (a live, unaliased `H`);
    // `format` is valid for the call or null.
    unsafe {
        guarded::<H>(user, "sequence", |h| match format.as_ref() {
            Some(f) => h.on_sequence(f),
            None => Err(Error::Decode("sequence callback without a format".into())),
        })
    }
}

pub(crate) unsafe extern "C" fn decode_cb<H: ParserCallbacks>(
    user: *mut c_void,
    pic: *mut CUVIDPICPARAMS,
) -> c_int {
    // SAFETY: as for `sequence_cb`; `pic` is valid and writable for the call or null.
    unsafe {
        guarded::<H>(user, "decode", |h| match pic.as_mut() {
            Some(p) => h.on_decode(p).map(|()| 1),
            None => Err(Error::Decode(
                "decode callback without picture parameters".into(),
            )),
        })
    }
}

pub(crate) unsafe extern "C" fn display_cb<H: ParserCallbacks>(
    user: *mut c_void,
    info: *mut CUVIDPARSERDISPINFO,
) -> c_int {
    // SAFETY: as for `sequence_cb`; `info` is valid for the call, null at end of stream.
    unsafe { guarded::<H>(user, "display", |h| h.on_display(info.as_ref()).map(|()| 1)) }
}

pub(crate) unsafe extern "C" fn operating_point_cb<H: ParserCallbacks>(
    user: *mut c_void,
    info: *mut CUVIDOPERATINGPOINTINFO,
) -> c_int {
    // SAFETY: as for `sequence_cb`.
    unsafe {
        guarded::<H>(user, "operating point", |h| match info.as_ref() {
            Some(i) => h.on_operating_point(i),
            None => Ok(0),
        })
    }
}

pub(crate) unsafe extern "C" fn sei_cb<H: ParserCallbacks>(
    user: *mut c_void,
    info: *mut CUVIDSEIMESSAGEINFO,
) -> c_int {
    // SAFETY: as for `sequence_cb`.
    unsafe {
        guarded::<H>(user, "SEI", |h| match info.as_ref() {
            Some(i) => h.on_sei(i).map(|()| 1),
            None => Ok(1),
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fakes for CPU tests of the trampolines.
    use super::*;

    /// A callback state whose handlers can be told to fail or panic.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub(crate) panic_in_sequence: bool,
        pub(crate) fail_in_decode: bool,
        pub(crate) error: Option<Error>,
        pub(crate) sequences: u32,
        pub(crate) displays: u32,
    }

    impl ParserCallbacks for Fake {
        fn on_sequence(&mut self, _f: &CUVIDEOFORMAT) -> Result<c_int> {
            self.sequences += 1;
            if self.panic_in_sequence {
                panic!("boom in sequence");
            }
            Ok(5)
        }
        fn on_decode(&mut self, _p: &mut CUVIDPICPARAMS) -> Result<()> {
            if self.fail_in_decode {
                return Err(Error::InvalidData("bad slice".into()));
            }
            Ok(())
        }
        fn on_display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<()> {
            if info.is_some() {
                self.displays += 1;
            }
            Ok(())
        }
        fn on_operating_point(&mut self, _i: &CUVIDOPERATINGPOINTINFO) -> Result<c_int> {
            Ok(0)
        }
        fn on_sei(&mut self, _i: &CUVIDSEIMESSAGEINFO) -> Result<()> {
            Ok(())
        }
        fn failed(&self) -> bool {
            self.error.is_some()
        }
        fn fail(&mut self, error: Error) {
            self.error = Some(error);
        }
    }
}
