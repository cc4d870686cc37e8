//! nvdx placeholder
