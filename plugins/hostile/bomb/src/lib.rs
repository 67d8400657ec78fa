//! `hostile.bomb`: allocates 1 MiB blocks forever, writing to every page
//! so the memory is really used. Only the host's memory limit stops it.

use std::hint::black_box;

use drover_sdk::prelude::*;

const BLOCK: usize = 1 << 20;
const PAGE: usize = 4096;

fn run(_input: Value, _ctx: &Context) -> Result<Value, Error> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; BLOCK];
        for page in block.chunks_mut(PAGE) {
            page[0] = 1;
        }
        blocks.push(black_box(block));
    }
}

drover_sdk::export_action!(run);
