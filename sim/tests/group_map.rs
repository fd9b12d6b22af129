//! The group-map helpers of dynamic grouping on their own, against the
//! payload rule of docs/stream-format.md ("Group map"; golden
//! `group_index_bits`): [`MapWiden`] puts lane `k`'s 3-bit group index into
//! 8-bit packer lane `k`; [`MapDecoder`] takes an unpacked map beat (each
//! `ceil(log2 G)`-bit field sign-extended to 8 bits, as the unpacker
//! delivers it) and on `load` registers the group word and the code-width
//! word (`bits` of each lane's group, 0 for an index >= G), holding both
//! until the next `load`. Random block policies with B = 4, 8, 16 and 1..=8
//! groups; the emitted Verilog passes the pitfall check.

use actcomp_golden::policy::{group_index_bits, BlockPolicy, Grouping};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{check_emitted, emit_verilog, MapDecoder, MapWiden};
use actcomp_sim::transform::lanes_to_bits;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_hdl::prelude::*;

fn settle<B: Block>(dut: &mut B) {
    assert!(simulate(dut, 200), "did not settle");
}

fn field(v: u64, pos: usize, bits: usize) -> u64 {
    (v >> pos) & ((1 << bits) - 1)
}

fn widen_case<const B: usize, const GW: usize, const DW: usize>(rng: &mut StdRng) {
    let mut dut = MapWiden::<B, GW, DW>::default();
    dut.connect_all();
    for _ in 0..50 {
        let g: Vec<u64> = (0..B).map(|_| rng.gen_range(0..8)).collect();
        let word = g.iter().enumerate().fold(0u64, |a, (k, &x)| a | (x << (3 * k)));
        dut.groups.next = word.into();
        settle(&mut dut);
        let lanes: Vec<u64> = (0..B).map(|k| dut.lanes.val().get_bits::<8>(8 * k).to_u64()).collect();
        assert_eq!(lanes, g, "B={B}");
    }
    let v = emit_verilog(&mut MapWiden::<B, GW, DW>::default(), "actcomp_map_widen").unwrap();
    assert!(check_emitted(&v).is_empty(), "{:?}", check_emitted(&v));
}

fn block(rng: &mut StdRng, b: usize) -> BlockPolicy {
    let spec = PolicySpec { grouping: Some(Grouping::Dynamic), channels: Some(b), block_size: Some(b), ..Default::default() };
    random_policy(rng, &spec).blocks[0].clone()
}

fn decoder_case<const B: usize, const DW: usize, const GW: usize, const UW: usize>(rng: &mut StdRng) {
    for _ in 0..6 {
        let blk = block(rng, B);
        let g_count = blk.groups.len();
        let w = group_index_bits(g_count) as usize;
        let mut dut = MapDecoder::<B, DW, GW, UW>::new(&blk);
        dut.connect_all();
        let mut held: Option<(Vec<u64>, Vec<u64>)> = None;
        for step in 0..40 {
            // a map with every index in range, then (sometimes) one out of range
            let mut g: Vec<u64> = (0..B).map(|_| rng.gen_range(0..g_count as u64)).collect();
            if step % 7 == 6 && w > 0 && (1usize << w) > g_count {
                g[rng.gen_range(0..B)] = g_count as u64;
            }
            // the unpacker's lanes: each w-bit field sign-extended to 8 bits
            let lanes: Vec<i64> = g
                .iter()
                .map(|&x| if w > 0 && x >> (w - 1) & 1 == 1 { ((x | !((1u64 << w) - 1)) & 0xFF) as i64 } else { x as i64 })
                .collect();
            let load = rng.gen_bool(0.6);
            dut.lanes.next = lanes_to_bits::<DW>(&lanes, 8);
            dut.load.next = load;
            dut.clock.next = Clock { clk: false };
            settle(&mut dut);
            dut.clock.next = Clock { clk: true };
            settle(&mut dut);
            if load {
                let widths: Vec<u64> = g.iter().map(|&x| blk.groups.get(x as usize).map_or(0, |gr| gr.bits as u64)).collect();
                held = Some((g, widths));
            }
            if let Some((g, widths)) = &held {
                let groups = dut.groups.val().to_u128() as u64;
                let got_g: Vec<u64> = (0..B).map(|k| field(groups, 3 * k, 3)).collect();
                let wv = dut.widths.val().to_u128() as u64;
                let got_w: Vec<u64> = (0..B).map(|k| field(wv, 4 * k, 4)).collect();
                assert_eq!(&got_g, g, "B={B} G={g_count} step {step}: groups");
                assert_eq!(&got_w, widths, "B={B} G={g_count} step {step}: widths");
            }
        }
        let v = emit_verilog(&mut MapDecoder::<B, DW, GW, UW>::new(&blk), "actcomp_map_decoder").unwrap();
        assert!(check_emitted(&v).is_empty(), "{:?}", check_emitted(&v));
    }
}

#[test]
fn map_widen_places_each_group_index_in_its_packer_lane() {
    let mut rng = StdRng::seed_from_u64(1);
    widen_case::<4, 12, 32>(&mut rng);
    widen_case::<8, 24, 64>(&mut rng);
    widen_case::<16, 48, 128>(&mut rng);
}

#[test]
fn map_decoder_registers_groups_and_widths_of_the_loaded_map() {
    let mut rng = StdRng::seed_from_u64(2);
    decoder_case::<4, 32, 12, 16>(&mut rng);
    decoder_case::<8, 64, 24, 32>(&mut rng);
    decoder_case::<16, 128, 48, 64>(&mut rng);
}
