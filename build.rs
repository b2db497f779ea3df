//! Builds the libdlt FFI shim for `benches/producer.rs`, and only with the
//! `libdlt-bench` feature; without it this does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "libdlt-bench")]
    {
        println!("cargo:rerun-if-changed=benches/libdlt_shim.c");
        cc::Build::new()
            .file("benches/libdlt_shim.c")
            .warnings(true)
            .compile("taktora_libdlt_shim");
        println!("cargo:rustc-link-lib=dylib=dlt");
    }
}
