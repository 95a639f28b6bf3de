#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hacmp_oracles::toml(data));
