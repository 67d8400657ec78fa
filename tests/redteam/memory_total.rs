//! Hole 12: the memory cap must hold for a component's memories together.
//! A component may instantiate several core modules, each with a linear
//! memory of its own; wasmtime asks the limiter about one memory at a
//! time. The hostile component here is the ordinary `core.noop` with extra
//! core instances of 40 MiB memories added: each memory is under the
//! pack's 64 MiB cap, together they are far over it.

use crate::support::*;
use crate::yaml_bomb::hostile_pack;

const MIB: u32 = 1 << 20;

fn leb(mut n: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(payload.len() as u32, out);
    out.extend_from_slice(payload);
}

/// A core module with nothing but a memory of `bytes` (whole pages).
fn memory_module(bytes: u32) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let mut mem = vec![1, 0x00]; // one memory, limits: min only
    leb(bytes / 65536, &mut mem);
    section(5, &mem, &mut m);
    m
}

/// `component` with `memories` extra core instances, each of a module
/// holding one memory of `bytes`. They are appended after everything
/// else, so no existing index moves; instantiating the component creates
/// them (instantiation may have effects, so none is skipped).
fn with_extra_memories(component: &[u8], memories: usize, bytes: u32) -> Vec<u8> {
    assert_eq!(&component[..8], b"\0asm\x0d\0\x01\0", "not a component");
    // Count the top-level core modules: the new ones come after them.
    let mut modules = 0u32;
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        at += 1;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = component[at];
            at += 1;
            size |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if id == 1 {
            modules += 1;
        }
        at += size;
    }
    let mut out = component.to_vec();
    for i in 0..memories as u32 {
        section(1, &memory_module(bytes), &mut out);
        let mut inst = vec![1, 0x00]; // one instance: instantiate
        leb(modules + i, &mut inst);
        inst.push(0); // no arguments
        section(2, &inst, &mut out);
    }
    out
}

fn pack_with(d: &Drover, memories: usize) -> std::path::PathBuf {
    let dir = hostile_pack(d, "memory_total");
    let wasm = dir.join("components/core_noop.wasm");
    let bytes = std::fs::read(&wasm).expect("core_noop.wasm: run `cargo xtask plugins`");
    std::fs::write(&wasm, with_extra_memories(&bytes, memories, 40 * MIB)).unwrap();
    dir
}

#[test]
fn memories_together_are_held_to_the_cap() {
    let d = Drover::new();
    let dir = pack_with(&d, 2);
    d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
    let out = d.run(&["run", "memory_total.many", "--json"]);
    let exec: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}{}", stdout(&out), stderr(&out)));
    // 2 × 40 MiB (+ noop's own): each under 64 MiB, together over it.
    assert_eq!(exec["status"], "failed", "{exec:#}");
    let err = exec["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("memory limit of 64 MiB exceeded")
            && err.contains("all its memories together"),
        "{err}"
    );
    assert!(err.contains("raise `memory` in pack.yaml"), "{err}");
    assert_eq!(exec["result"], serde_json::Value::Null);
}

#[test]
fn an_extra_memory_within_the_cap_is_fine() {
    // The same construction with one extra memory (40 MiB + noop's own,
    // under 64 MiB) runs: the failure above is the total, not the shape.
    let d = Drover::new();
    let dir = pack_with(&d, 1);
    d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
    let exec = d.json(0, &["run", "memory_total.many"]);
    assert_eq!(exec["status"], "succeeded", "{exec:#}");
}
