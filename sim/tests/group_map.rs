//! The group-map helpers of dynamic grouping on their own, against the
//! payload rule of docs/stream-format.md ("Group map"; golden
//! `group_index_bits`): [`MapWiden`] puts lane `k`'s 3-bit group index into
//! 8-bit packer lane `k`; [`MapDecoder`] takes an unpacked map beat (each
//! `ceil(log2 G)`-bit field sign-extended to 8 bits, as the unpacker
//! delivers it) and on `load` registers the group word and the code-width
//! word (`bits` of each lane's group, 0 for an index >= G), holding both
//! until the next `load`. Random block policies with B = 4, 8, 16, 32, 64
//! and 1..=8 groups, lanes 0 / 16 / 32 kept apart at B = 64, the widths
//! constant beyond 64 bits; the emitted Verilog passes the pitfall check.

use actcomp_golden::policy::{group_index_bits, BlockPolicy, Grouping};
use actcomp_golden::testkit::{random_policy, PolicySpec};
use actcomp_hdl::{check_emitted, emit_verilog, map_widths_bits, MapDecoder, MapWiden};
use actcomp_sim::transform::{bits_to_lanes, lanes_to_bits};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_hdl::prelude::*;

fn settle<B: Block>(dut: &mut B) {
    assert!(simulate(dut, 200), "did not settle");
}

fn widen_case<const B: usize, const GW: usize, const DW: usize>(rng: &mut StdRng) {
    let mut dut = MapWiden::<B, GW, DW>::default();
    dut.connect_all();
    for _ in 0..50 {
        let g: Vec<i64> = (0..B).map(|_| rng.gen_range(0..8)).collect();
        dut.groups.next = lanes_to_bits::<GW>(&g, 3);
        settle(&mut dut);
        let lanes = bits_to_lanes(dut.lanes.val(), B, 8, false);
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
                let got_g: Vec<u64> = bits_to_lanes(dut.groups.val(), B, 3, false).into_iter().map(|x| x as u64).collect();
                let got_w: Vec<u64> = bits_to_lanes(dut.widths.val(), B, 4, false).into_iter().map(|x| x as u64).collect();
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
    widen_case::<32, 96, 256>(&mut rng);
    widen_case::<64, 192, 512>(&mut rng);
}

#[test]
fn map_decoder_registers_groups_and_widths_of_the_loaded_map() {
    let mut rng = StdRng::seed_from_u64(2);
    decoder_case::<4, 32, 12, 16>(&mut rng);
    decoder_case::<8, 64, 24, 32>(&mut rng);
    decoder_case::<16, 128, 48, 64>(&mut rng);
    decoder_case::<32, 256, 96, 128>(&mut rng);
    decoder_case::<64, 512, 192, 256>(&mut rng);
}

/// Lanes 0 and 32 (and 16) stay apart at B = 64: group index `k mod G` in
/// lane `k` (lanes 0, 16, 32 differ when G does not divide 16), so a field
/// offset that wrapped at 256 bits (an 8-bit constant for `8*k`, MapWiden)
/// would merge lanes 32.. into lanes 0.. and fail.
#[test]
fn map_lanes_0_16_32_are_distinct_at_b64() {
    let g: Vec<i64> = (0..64).map(|k| k % 7).collect();
    assert!(g[0] != g[16] && g[0] != g[32] && g[16] != g[32]);
    let mut dut = MapWiden::<64, 192, 512>::default();
    dut.connect_all();
    dut.groups.next = lanes_to_bits::<192>(&g, 3);
    settle(&mut dut);
    assert_eq!(bits_to_lanes(dut.lanes.val(), 64, 8, false), g);
    let mut rng = StdRng::seed_from_u64(7);
    let mut blk = block(&mut rng, 64);
    while blk.groups.len() != 7 {
        blk = block(&mut rng, 64);
    }
    let mut dec = MapDecoder::<64, 512, 192, 256>::new(&blk);
    dec.connect_all();
    dec.lanes.next = lanes_to_bits::<512>(&g.iter().map(|&x| if x >= 4 { x | 0xF8 } else { x }).collect::<Vec<_>>(), 8);
    dec.load.next = true;
    dec.clock.next = Clock { clk: false };
    settle(&mut dec);
    dec.clock.next = Clock { clk: true };
    settle(&mut dec);
    assert_eq!(bits_to_lanes(dec.groups.val(), 64, 3, false), g);
    let w: Vec<i64> = g.iter().map(|&x| blk.groups[x as usize].bits as i64).collect();
    assert_eq!(bits_to_lanes(dec.widths.val(), 64, 4, false), w);
}

/// The widths constant at any B: [`map_widths_bits`] puts `ceil(log2 G)`
/// in every 4-bit lane, at B = 16 (a u64) and at B = 32 / 64 (beyond one).
#[test]
fn map_widths_bits_matches_word_and_fills_wide_blocks() {
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..8 {
        let blk = block(&mut rng, 16);
        let w = group_index_bits(blk.groups.len()) as u64;
        assert_eq!(map_widths_bits::<64>(&blk).to_u64(), (0..16).fold(0, |a, i| a | (w << (4 * i))));
        let w = group_index_bits(blk.groups.len()) as i64;
        assert_eq!(bits_to_lanes(map_widths_bits::<64>(&blk), 16, 4, false), vec![w; 16]);
        let blk = block(&mut rng, 32);
        let w32 = group_index_bits(blk.groups.len()) as i64;
        assert_eq!(bits_to_lanes(map_widths_bits::<128>(&blk), 32, 4, false), vec![w32; 32]);
        let blk = block(&mut rng, 64);
        let w64 = group_index_bits(blk.groups.len()) as i64;
        assert_eq!(bits_to_lanes(map_widths_bits::<256>(&blk), 64, 4, false), vec![w64; 64]);
    }
}
