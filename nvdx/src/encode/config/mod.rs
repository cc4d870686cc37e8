//! Encoder configuration: a builder that turns nvdx settings into the `NV_ENC_CONFIG` and
//! `NV_ENC_INITIALIZE_PARAMS` NVENC takes.
//!
//! The builder never talks to the driver: `EncoderConfig::build` applies the settings on top
//! of a given preset configuration (the one `nvEncGetEncodePresetConfigEx` returned, or a zeroed
//! one in tests), so every field it writes can be checked on a machine without a GPU.

mod builder;
mod colour;
mod format;
mod preset;
mod profile;
mod rate;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use builder::BuiltParams;
pub use builder::EncoderConfig;
pub use colour::{ColourDescription, ColourMatrix};
pub use format::buffer_format;
pub use preset::{Preset, Tuning};
pub use profile::Profile;
pub use rate::RateControl;
