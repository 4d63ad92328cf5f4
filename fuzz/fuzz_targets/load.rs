//! Arbitrary bytes into the loader: it must never panic, and whatever loads must validate
//! without panicking and survive a serialize/reload round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mesh_core::load::fuzz_one(data);
});
