//! DLPack capsules: `PyCapsule`s named `"dltensor_versioned"` / `"dltensor"` around nvdx's
//! managed tensors, and consumption of other libraries' capsules (renamed to `"used_..."`).

use std::ffi::c_void;
use std::ptr::NonNull;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;

use nvdx::dlpack::{
    self, DlpackImage, Exported, CAPSULE_LEGACY, CAPSULE_LEGACY_USED, CAPSULE_VERSIONED,
    CAPSULE_VERSIONED_USED,
};
use nvdx::{Context, PixelFormat, Stream};

/// Deletes the tensor of a capsule nobody consumed (still carrying its original name).
unsafe extern "C" fn destroy_versioned(cap: *mut ffi::PyObject) {
    // SAFETY: `cap` is the capsule being destroyed; IsValid/GetPointer with the unused name
    // succeed only if no consumer renamed it, i.e. we still own the tensor. Neither call
    // sets an exception when IsValid is true.
    unsafe {
        if ffi::PyCapsule_IsValid(cap, CAPSULE_VERSIONED.as_ptr()) == 1 {
            let p = ffi::PyCapsule_GetPointer(cap, CAPSULE_VERSIONED.as_ptr())
                .cast::<dlpack::ffi::DLManagedTensorVersioned>();
            if let Some(d) = p.as_ref().and_then(|m| m.deleter) {
                d(p);
            }
        }
    }
}

unsafe extern "C" fn destroy_legacy(cap: *mut ffi::PyObject) {
    // SAFETY: as in `destroy_versioned`.
    unsafe {
        if ffi::PyCapsule_IsValid(cap, CAPSULE_LEGACY.as_ptr()) == 1 {
            let p = ffi::PyCapsule_GetPointer(cap, CAPSULE_LEGACY.as_ptr())
                .cast::<dlpack::ffi::DLManagedTensor>();
            if let Some(d) = p.as_ref().and_then(|m| m.deleter) {
                d(p);
            }
        }
    }
}

/// A capsule owning `exported` (versioned when the consumer asked for DLPack >= 1.0).
pub fn new(py: Python<'_>, exported: Exported, versioned: bool) -> PyResult<Py<PyAny>> {
    if versioned {
        let p = exported.into_versioned().as_ptr();
        // SAFETY: `p` is a live managed tensor the capsule takes over; the name is static.
        let cap = unsafe {
            ffi::PyCapsule_New(
                p.cast::<c_void>(),
                CAPSULE_VERSIONED.as_ptr(),
                Some(destroy_versioned),
            )
        };
        if cap.is_null() {
            // SAFETY: not handed out: delete it ourselves, once.
            unsafe {
                if let Some(d) = (*p).deleter {
                    d(p)
                }
            }
            return Err(PyErr::fetch(py));
        }
        // SAFETY: a new reference we own.
        Ok(unsafe { Bound::from_owned_ptr(py, cap) }.unbind())
    } else {
        let p = exported.into_legacy().as_ptr();
        // SAFETY: as above.
        let cap = unsafe {
            ffi::PyCapsule_New(
                p.cast::<c_void>(),
                CAPSULE_LEGACY.as_ptr(),
                Some(destroy_legacy),
            )
        };
        if cap.is_null() {
            // SAFETY: as above.
            unsafe {
                if let Some(d) = (*p).deleter {
                    d(p)
                }
            }
            return Err(PyErr::fetch(py));
        }
        // SAFETY: a new reference we own.
        Ok(unsafe { Bound::from_owned_ptr(py, cap) }.unbind())
    }
}

/// Consumes a DLPack capsule from another library (renaming it `"used_..."`, so its
/// destructor no longer deletes the tensor) and imports the tensor as an image.
pub fn import(
    cap: &Bound<'_, PyAny>,
    ctx: &Context,
    format: PixelFormat,
    ready_on: &Stream,
) -> PyResult<DlpackImage> {
    let obj = cap.as_ptr();
    // SAFETY: `obj` is a live object (borrowed from `cap`); IsValid accepts any object.
    let versioned = unsafe { ffi::PyCapsule_IsValid(obj, CAPSULE_VERSIONED.as_ptr()) } == 1;
    // SAFETY: as above.
    let legacy = unsafe { ffi::PyCapsule_IsValid(obj, CAPSULE_LEGACY.as_ptr()) } == 1;
    if !versioned && !legacy {
        return Err(PyTypeError::new_err(
            "__dlpack__ returned something other than an unused DLPack capsule",
        ));
    }
    let (name, used) = if versioned {
        (CAPSULE_VERSIONED, CAPSULE_VERSIONED_USED)
    } else {
        (CAPSULE_LEGACY, CAPSULE_LEGACY_USED)
    };
    // SAFETY: the capsule is valid under `name` (checked).
    let p = unsafe { ffi::PyCapsule_GetPointer(obj, name.as_ptr()) };
    let Some(p) = NonNull::new(p) else {
        return Err(PyValueError::new_err(
            "the DLPack capsule holds a null tensor",
        ));
    };
    // SAFETY: renaming to the static "used" name transfers the tensor to us (the protocol).
    if unsafe { ffi::PyCapsule_SetName(obj, used.as_ptr()) } != 0 {
        return Err(PyErr::fetch(cap.py()));
    }
    // SAFETY: we own the live managed tensor now; the import deletes it exactly once.
    let img = unsafe {
        if versioned {
            DlpackImage::from_versioned(ctx, p.cast(), format, ready_on)
        } else {
            DlpackImage::from_legacy(ctx, p.cast(), format, ready_on)
        }
    };
    img.map_err(crate::py_err)
}
