//! Decompressor top level (`actcomp_decompressor`), static or dynamic
//! grouping: payload words in, reconstructed codes out, bit-exact with
//! [`actcomp_golden::codec::Codec::reconstruct`] (= `decompress` of the
//! golden payload).
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` | in | 1 | rising edge |
//! | `reset` | in | 1 | synchronous, active high; empties every pipeline, restarts the vector count; while high `s_axis_tready` and `m_axis_tvalid` are low |
//! | `num_vectors` | in | 32 | pixel vectors of the tensor being decoded; hold it stable from the end of reset to the last output (the final, partial tile ends at vector `num_vectors - 1`; no beats are produced beyond it) |
//! | `s_axis_tdata` | in | `W` | payload word |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | word handshake (`tready` from registered state and `reset` only) |
//! | `m_axis_tdata` | out | `8*LANES` | `LANES = min(B, 16)`: one block of one reconstructed pixel vector (B <= 16), or beat `q` of its `B/16` port beats (B = 32, 64, from a [`LaneSplitter`]): lane `i` = x̂ of channel `j*B + 16q + i` in `[8i+7:8i]` (int8 policies: two's complement; uint8: unsigned) |
//! | `m_axis_tvalid` / `m_axis_tready` | out / in | 1 | output handshake (`tvalid` a register) |
//! | `m_axis_tlast` | out | 1 | last block of the last vector of a tile |
//!
//! Beats leave in the compressor's input order: vector-major, then block.
//!
//! # Micro-architecture
//!
//! A widths sequencer (block counter `wsel`, vector-in-tile counter `wt`,
//! vector counter `wv`) feeds the [`VarWidthUnpacker`]'s width stream with
//! the static lane widths of block `wsel` (a per-block constant) and sets
//! its `tlast` on the last block of every `T`-th vector and of vector
//! `num_vectors - 1`. Unpacked beats are routed round-robin (`dsel`) to one
//! [`Dequantizer`] (constant static group map) + [`InverseTransform`] per
//! block, whose outputs are merged in block order (`osel`).
//!
//! With dynamic grouping every tile starts with NB group-map beats. The
//! sequencer first requests them (per-block constant widths
//! `ceil(log2 G_j)` per lane), the router captures each into that block's
//! [`MapDecoder`] (group word for the dequantizer, width word for the
//! sequencer), and only then requests the tile's code beats with the widths
//! of the captured map. A tile parity bit on each side (`wtile`, `dtile`)
//! keeps the sequencer from using a map before the router has captured it.
//! Cost: NB map beats plus about 2 bubble cycles per tile. The hardware
//! does not validate maps (the golden decoder does).

use actcomp_golden::policy::Policy;
use rust_hdl::prelude::*;

use crate::compressor::{check_top_policy, port_beats, port_lanes, static_groups_word, static_widths_word, TopError};
use crate::dequantizer::Dequantizer;
use crate::group_map::{map_widths_bits, MapDecoder};
use actcomp_golden::policy::Grouping;
use crate::inverse::InverseTransform;
use crate::lane_split::{sub_beats, LaneGather, LaneSplitter};
use crate::unpacker::VarWidthUnpacker;

/// The decompressor top level (see the module documentation). Const
/// parameters: `B` lanes, `CW = 8B`, `GW = 3B`, `YW = 16B`, `UW = 4B`, `W`
/// word bits, `A = W + 8B` (unpacker accumulator); aliases
/// [`Decompressor4x32`], [`Decompressor4x64`], [`Decompressor8x32`],
/// [`Decompressor8x64`].
#[derive(LogicBlock)]
pub struct Decompressor<
    const B: usize,
    const CW: usize,
    const GW: usize,
    const YW: usize,
    const UW: usize,
    const W: usize,
    const A: usize,
    const UL: usize,
    const UDW: usize,
    const UUW: usize,
    const OW: usize,
    const OS: usize,
> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Pixel vectors of the tensor (stable during a run).
    pub num_vectors: Signal<In, Bits<32>>,
    /// Payload word.
    pub s_axis_tdata: Signal<In, Bits<W>>,
    /// Word valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Unit takes a word (registered state and reset only).
    pub s_axis_tready: Signal<Out, Bit>,
    /// One reconstructed block (B <= 16), or one of its `B/16` 16-lane
    /// parts (B = 32, 64), lane `i` in `[8i+7:8i]`.
    pub m_axis_tdata: Signal<Out, Bits<OW>>,
    /// Output valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Sink takes the beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// Last block of a tile.
    pub m_axis_tlast: Signal<Out, Bit>,
    /// The unpacker (`UL = min(B, 8)` lanes).
    pub unpacker: VarWidthUnpacker<UL, UDW, UUW, W, A>,
    /// Unpacked sub-beats of `UL` lanes gathered into block beats of `B` lanes.
    pub gather: LaneGather<UDW, CW>,
    /// Dequantizers, one per block.
    pub deq: Vec<Dequantizer<B, CW, GW, YW>>,
    /// Inverse transforms, one per block.
    pub inv: Vec<InverseTransform<B, YW, CW>>,
    /// Splits a reconstructed block into its `OS = B/16` port beats (one
    /// for B > 16, none for B <= 16).
    pub split: Vec<LaneSplitter<CW, OS, OW, 1>>,
    /// Group-map registers, one per block (empty for static grouping).
    pub mapdec: Vec<MapDecoder<B, CW, GW, UW>>,
    c_idx: Vec<Constant<Bits<8>>>,
    c_mapw: Vec<Constant<Bits<UW>>>,
    c_dyn: Constant<Bit>,
    wcode: DFF<Bit>,
    wtile: DFF<Bit>,
    dcode: DFF<Bit>,
    dtile: DFF<Bit>,
    w_code: Signal<Local, Bit>,
    w_ok: Signal<Local, Bit>,
    d_code: Signal<Local, Bit>,
    c_widths: Vec<Constant<Bits<UW>>>,
    c_groups: Vec<Constant<Bits<GW>>>,
    c_last_blk: Constant<Bits<8>>,
    c_last_vec: Constant<Bits<16>>,
    wsel: DFF<Bits<8>>,
    wsub: DFF<Bits<8>>,
    c_last_sub: Constant<Bits<8>>,
    c_sub: Vec<Constant<Bits<8>>>,
    w_blk: Signal<Local, Bits<UW>>,
    w_sub_last: Signal<Local, Bit>,
    wt: DFF<Bits<16>>,
    wv: DFF<Bits<32>>,
    dsel: DFF<Bits<8>>,
    osel: DFF<Bits<8>>,
    w_more: Signal<Local, Bit>,
    w_end: Signal<Local, Bit>,
    w_fire: Signal<Local, Bit>,
    w_data: Signal<Local, Bits<UUW>>,
    d_ready: Signal<Local, Bit>,
    d_take: Signal<Local, Bit>,
    o_valid: Signal<Local, Bit>,
    o_data: Signal<Local, Bits<CW>>,
    o_last: Signal<Local, Bit>,
    o_take: Signal<Local, Bit>,
    o_ready: Signal<Local, Bit>,
}

/// Declares a decompressor alias for block size `b` and word bits `w`;
/// every other parameter follows from these.
macro_rules! decompressor_alias {
    ($(#[$m:meta])* $name:ident = $b:literal, $w:literal) => {
        $(#[$m])*
        pub type $name = Decompressor<
            $b,
            { 8 * $b },
            { 3 * $b },
            { 16 * $b },
            { 4 * $b },
            $w,
            { $w + 8 * crate::lane_split::narrow_lanes($b) },
            { crate::lane_split::narrow_lanes($b) },
            { 8 * crate::lane_split::narrow_lanes($b) },
            { 4 * crate::lane_split::narrow_lanes($b) },
            { 8 * crate::compressor::port_lanes($b) },
            { crate::compressor::port_beats($b) },
        >;
    };
}

decompressor_alias!(/// B = 4, W = 32.
    Decompressor4x32 = 4, 32);
decompressor_alias!(/// B = 4, W = 64.
    Decompressor4x64 = 4, 64);
decompressor_alias!(/// B = 8, W = 32 (a beat of more than 32 bits waits for a second word).
    Decompressor8x32 = 8, 32);
decompressor_alias!(/// B = 8, W = 64.
    Decompressor8x64 = 8, 64);
decompressor_alias!(/// B = 16 (two 8-lane unpacker sub-beats per block beat), W = 32.
    Decompressor16x32 = 16, 32);
decompressor_alias!(/// B = 16 (two 8-lane unpacker sub-beats per block beat), W = 64.
    Decompressor16x64 = 16, 64);
decompressor_alias!(/// B = 32 (four 8-lane unpacker sub-beats, two 16-lane output beats per block), W = 32.
    Decompressor32x32 = 32, 32);
decompressor_alias!(/// B = 32, W = 64.
    Decompressor32x64 = 32, 64);
decompressor_alias!(/// B = 64 (eight 8-lane unpacker sub-beats, four 16-lane output beats per block), W = 32.
    Decompressor64x32 = 64, 32);
decompressor_alias!(/// B = 64, W = 64.
    Decompressor64x64 = 64, 64);

/// Evaluates `$body` with the type name `$t` bound to the decompressor
/// alias that fits `$policy` (block size, word bits); evaluates to
/// `Err(TopError.into())` when none fits. The one place that maps a policy
/// to a decompressor type.
#[macro_export]
macro_rules! with_decompressor_type {
    ($policy:expr, $t:ident => $body:expr) => {{
        let policy_for_type: &_ = $policy;
        match (policy_for_type.block_size, policy_for_type.word_bits) {
            (4, 32) => { type $t = $crate::Decompressor4x32; $body }
            (4, 64) => { type $t = $crate::Decompressor4x64; $body }
            (8, 32) => { type $t = $crate::Decompressor8x32; $body }
            (8, 64) => { type $t = $crate::Decompressor8x64; $body }
            (16, 32) => { type $t = $crate::Decompressor16x32; $body }
            (16, 64) => { type $t = $crate::Decompressor16x64; $body }
            (32, 32) => { type $t = $crate::Decompressor32x32; $body }
            (32, 64) => { type $t = $crate::Decompressor32x64; $body }
            (64, 32) => { type $t = $crate::Decompressor64x32; $body }
            (64, 64) => { type $t = $crate::Decompressor64x64; $body }
            (b, w) => Err($crate::TopError(format!("no decompressor configuration for B = {b}, W = {w}")).into()),
        }
    }};
}

impl<const B: usize, const CW: usize, const GW: usize, const YW: usize, const UW: usize, const W: usize, const A: usize, const UL: usize, const UDW: usize, const UUW: usize, const OW: usize, const OS: usize>
    Decompressor<B, CW, GW, YW, UW, W, A, UL, UDW, UUW, OW, OS>
{
    /// Builds the top level of a policy. Errors on a block size other than
    /// `B`, a word size other than `W` or too many blocks.
    pub fn new(policy: &Policy) -> Result<Self, TopError> {
        check_top_policy(policy)?;
        if policy.block_size != B || policy.word_bits as usize != W {
            return Err(TopError(format!(
                "policy has B = {}, W = {}; this unit is B = {B}, W = {W}",
                policy.block_size, policy.word_bits
            )));
        }
        assert!(sub_beats(B) == 1 || UUW == 32, "several unpacker sub-beats need 8-lane sub-beats");
        assert!(OW == 8 * port_lanes(B) && OS == port_beats(B), "OW must be 8 * port_lanes(B), OS = port_beats(B)");
        let nb = policy.num_blocks();
        let range = policy.input.code_range;
        let dynamic = policy.grouping == Grouping::Dynamic;
        Ok(Self {
            clock: Default::default(),
            reset: Default::default(),
            num_vectors: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tlast: Default::default(),
            unpacker: VarWidthUnpacker::new(),
            gather: LaneGather::new(),
            split: if port_beats(B) > 1 { vec![LaneSplitter::new()] } else { vec![] },
            o_ready: Default::default(),
            deq: policy.blocks.iter().map(Dequantizer::new).collect(),
            inv: policy.blocks.iter().map(|b| InverseTransform::new(b, range)).collect(),
            c_idx: (0..nb).map(|j| Constant::new((j as u64).into())).collect(),
            mapdec: if dynamic { policy.blocks.iter().map(MapDecoder::new).collect() } else { vec![] },
            c_widths: if dynamic {
                vec![]
            } else {
                (0..nb).map(|j| Constant::new(static_widths_word(policy, j))).collect()
            },
            c_groups: if dynamic {
                vec![]
            } else {
                (0..nb).map(|j| Constant::new(static_groups_word(policy, j))).collect()
            },
            c_mapw: if dynamic {
                policy.blocks.iter().map(|blk| Constant::new(map_widths_bits(blk))).collect()
            } else {
                vec![]
            },
            c_dyn: Constant::new(dynamic),
            wcode: Default::default(),
            wtile: Default::default(),
            dcode: Default::default(),
            dtile: Default::default(),
            w_code: Default::default(),
            w_ok: Default::default(),
            d_code: Default::default(),
            c_last_blk: Constant::new(((nb - 1) as u64).into()),
            c_last_vec: Constant::new(((policy.tile - 1) as u64).into()),
            wsel: Default::default(),
            wsub: Default::default(),
            c_last_sub: Constant::new(((sub_beats(B) - 1) as u64).into()),
            c_sub: (0..sub_beats(B)).map(|s| Constant::new((s as u64).into())).collect(),
            w_blk: Default::default(),
            w_sub_last: Default::default(),
            wt: Default::default(),
            wv: Default::default(),
            dsel: Default::default(),
            osel: Default::default(),
            w_more: Default::default(),
            w_end: Default::default(),
            w_fire: Default::default(),
            w_data: Default::default(),
            d_ready: Default::default(),
            d_take: Default::default(),
            o_valid: Default::default(),
            o_data: Default::default(),
            o_last: Default::default(),
            o_take: Default::default(),
        })
    }

    /// Number of blocks (per-block pipelines).
    pub fn blocks(&self) -> usize {
        self.deq.len()
    }
}

impl<const B: usize, const CW: usize, const GW: usize, const YW: usize, const UW: usize, const W: usize, const A: usize, const UL: usize, const UDW: usize, const UUW: usize, const OW: usize, const OS: usize>
    Logic for Decompressor<B, CW, GW, YW, UW, W, A, UL, UDW, UUW, OW, OS>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wsel, wsub, wt, wv, dsel, osel, wcode, wtile, dcode, dtile);
        // Widths sequencer: (dynamic) NB map beats, then the tile's code
        // beats once the router holds this tile's maps; tile ends.
        self.w_code.next = !self.c_dyn.val() | self.wcode.q.val();
        self.w_ok.next = !self.c_dyn.val() | (self.dcode.q.val() & (self.dtile.q.val() == self.wtile.q.val()));
        self.w_more.next = self.wv.q.val() < self.num_vectors.val();
        self.w_sub_last.next = self.wsub.q.val() == self.c_last_sub.val();
        self.w_end.next = self.w_code.val()
            & self.w_sub_last.val()
            & (self.wsel.q.val() == self.c_last_blk.val())
            & ((self.wt.q.val() == self.c_last_vec.val()) | ((self.wv.q.val() + 1) == self.num_vectors.val()));
        // Lane widths of block `wsel`, then those of sub-beat `wsub`.
        self.w_blk.next = 0.into();
        for j in 0..self.c_widths.len() {
            if self.wsel.q.val() == self.c_idx[j].val() {
                self.w_blk.next = self.c_widths[j].val();
            }
        }
        for j in 0..self.mapdec.len() {
            if self.wsel.q.val() == self.c_idx[j].val() {
                self.w_blk.next = self.c_mapw[j].val();
                if self.w_code.val() {
                    self.w_blk.next = self.mapdec[j].widths.val();
                }
            }
        }
        // (several sub-beats only with 8-lane sub-beats: UUW = 32)
        self.w_data.next = 0.into();
        for s in 0..self.c_sub.len() {
            if self.wsub.q.val() == self.c_sub[s].val() {
                self.w_data.next = self.w_blk.val().get_bits::<UUW>(32 * s);
            }
        }
        self.unpacker.clock.next = self.clock.val();
        self.unpacker.reset.next = self.reset.val();
        self.unpacker.s_axis_tdata.next = self.s_axis_tdata.val();
        self.unpacker.s_axis_tvalid.next = self.s_axis_tvalid.val();
        self.s_axis_tready.next = self.unpacker.s_axis_tready.val();
        self.unpacker.s_widths_tdata.next = self.w_data.val();
        self.unpacker.s_widths_tlast.next = self.w_end.val();
        self.unpacker.s_widths_tvalid.next =
            self.w_more.val() & !self.reset.val() & (!self.w_code.val() | self.w_ok.val());
        self.w_fire.next = self.unpacker.s_widths_tvalid.val() & self.unpacker.s_widths_tready.val();
        if self.w_fire.val() & !self.w_sub_last.val() {
            self.wsub.d.next = self.wsub.q.val() + 1;
        }
        if self.w_fire.val() & self.w_sub_last.val() {
            self.wsub.d.next = 0.into();
            if self.wsel.q.val() == self.c_last_blk.val() {
                self.wsel.d.next = 0.into();
                if self.w_code.val() {
                    self.wv.d.next = self.wv.q.val() + 1;
                    if self.w_end.val() {
                        self.wt.d.next = 0.into();
                        self.wcode.d.next = false;
                        self.wtile.d.next = !self.wtile.q.val();
                    } else {
                        self.wt.d.next = self.wt.q.val() + 1;
                    }
                } else {
                    self.wcode.d.next = true;
                }
            } else {
                self.wsel.d.next = self.wsel.q.val() + 1;
            }
        }
        // Sub-beats of the unpacker into block beats.
        self.gather.clock.next = self.clock.val();
        self.gather.reset.next = self.reset.val();
        self.gather.s_axis_tdata.next = self.unpacker.m_axis_tdata.val();
        self.gather.s_axis_tvalid.next = self.unpacker.m_axis_tvalid.val();
        self.gather.s_axis_tlast.next = self.unpacker.m_axis_tlast.val();
        self.unpacker.m_axis_tready.next = self.gather.s_axis_tready.val();
        // Route unpacked beats: map beats to block `dsel`'s map register,
        // code beats to block `dsel`'s dequantizer.
        self.d_code.next = !self.c_dyn.val() | self.dcode.q.val();
        self.d_ready.next = !self.d_code.val();
        for j in 0..self.deq.len() {
            self.deq[j].clock.next = self.clock.val();
            self.deq[j].reset.next = self.reset.val();
            self.deq[j].s_axis_tdata.next = self.gather.m_axis_tdata.val();
            self.deq[j].s_axis_tlast.next = self.gather.m_axis_tlast.val();
            self.deq[j].s_axis_tvalid.next = false;
            if (self.dsel.q.val() == self.c_idx[j].val()) & self.d_code.val() {
                self.d_ready.next = self.deq[j].s_axis_tready.val();
                self.deq[j].s_axis_tvalid.next = self.gather.m_axis_tvalid.val();
            }
            self.inv[j].clock.next = self.clock.val();
            self.inv[j].reset.next = self.reset.val();
            self.inv[j].s_axis_tdata.next = self.deq[j].m_axis_tdata.val();
            self.inv[j].s_axis_tvalid.next = self.deq[j].m_axis_tvalid.val();
            self.inv[j].s_axis_tlast.next = self.deq[j].m_axis_tlast.val();
            self.deq[j].m_axis_tready.next = self.inv[j].s_axis_tready.val();
        }
        for j in 0..self.c_groups.len() {
            self.deq[j].s_axis_tuser.next = self.c_groups[j].val();
        }
        for j in 0..self.mapdec.len() {
            self.mapdec[j].clock.next = self.clock.val();
            self.mapdec[j].lanes.next = self.gather.m_axis_tdata.val();
            self.mapdec[j].load.next =
                self.gather.m_axis_tvalid.val() & !self.d_code.val() & (self.dsel.q.val() == self.c_idx[j].val());
            self.deq[j].s_axis_tuser.next = self.mapdec[j].groups.val();
        }
        self.gather.m_axis_tready.next = self.d_ready.val();
        self.d_take.next = self.gather.m_axis_tvalid.val() & self.d_ready.val();
        if self.d_take.val() {
            if self.dsel.q.val() == self.c_last_blk.val() {
                self.dsel.d.next = 0.into();
                if self.d_code.val() {
                    if self.gather.m_axis_tlast.val() {
                        self.dcode.d.next = false;
                        self.dtile.d.next = !self.dtile.q.val();
                    }
                } else {
                    self.dcode.d.next = true;
                }
            } else {
                self.dsel.d.next = self.dsel.q.val() + 1;
            }
        }
        // Output port ready: the sink's (B <= 16), or the splitter's (B > 16).
        self.o_ready.next = self.m_axis_tready.val();
        for s in 0..self.split.len() {
            self.split[s].m_axis_tready.next = self.m_axis_tready.val();
            self.o_ready.next = self.split[s].s_axis_tready.val();
        }
        // Merge the inverse transforms' outputs in block order.
        self.o_valid.next = false;
        self.o_data.next = 0.into();
        self.o_last.next = false;
        for j in 0..self.inv.len() {
            self.inv[j].m_axis_tready.next = false;
            if self.osel.q.val() == self.c_idx[j].val() {
                self.o_valid.next = self.inv[j].m_axis_tvalid.val();
                self.o_data.next = self.inv[j].m_axis_tdata.val();
                self.o_last.next = self.inv[j].m_axis_tlast.val();
                self.inv[j].m_axis_tready.next = self.o_ready.val();
            }
        }
        self.o_take.next = self.o_valid.val() & self.o_ready.val();
        if self.o_take.val() {
            if self.o_last.val() | (self.osel.q.val() == self.c_last_blk.val()) {
                self.osel.d.next = 0.into();
            } else {
                self.osel.d.next = self.osel.q.val() + 1;
            }
        }
        if self.reset.val() {
            self.wsel.d.next = 0.into();
            self.wsub.d.next = 0.into();
            self.wt.d.next = 0.into();
            self.wv.d.next = 0.into();
            self.dsel.d.next = 0.into();
            self.osel.d.next = 0.into();
            self.wcode.d.next = false;
            self.wtile.d.next = false;
            self.dcode.d.next = false;
            self.dtile.d.next = false;
        }
        // Output port: the merged block beat (B <= 16), or its 16-lane
        // parts from the splitter (B > 16).
        self.m_axis_tdata.next = self.o_data.val().get_bits::<OW>(0);
        self.m_axis_tvalid.next = self.o_valid.val() & !self.reset.val();
        self.m_axis_tlast.next = self.o_last.val();
        for s in 0..self.split.len() {
            self.split[s].clock.next = self.clock.val();
            self.split[s].reset.next = self.reset.val();
            self.split[s].s_axis_tdata.next = self.o_data.val();
            self.split[s].s_axis_tuser.next = 0.into();
            self.split[s].s_axis_tlast.next = self.o_last.val();
            self.split[s].s_axis_tvalid.next = self.o_valid.val();
            self.m_axis_tdata.next = self.split[s].m_axis_tdata.val();
            self.m_axis_tvalid.next = self.split[s].m_axis_tvalid.val() & !self.reset.val();
            self.m_axis_tlast.next = self.split[s].m_axis_tlast.val();
        }
    }
}

/// Emits the decompressor top level of `policy` as Verilog with the top
/// module named `actcomp_decompressor` (checked with [`crate::check_emitted`]).
pub fn decompressor_verilog(policy: &Policy) -> Result<String, TopError> {
    check_top_policy(policy)?;
    fn emit<T: Block>(mut t: T) -> Result<String, TopError> {
        let v = crate::emit_verilog(&mut t, "actcomp_decompressor").map_err(|e| TopError(e.to_string()))?;
        let problems = crate::check_emitted(&v);
        if !problems.is_empty() {
            return Err(TopError(format!("emitted Verilog failed the pitfall check: {problems:?}")));
        }
        Ok(v)
    }
    crate::with_decompressor_type!(policy, T => emit(T::new(policy)?))
}

/// Nominal decompressor latency in cycles from the word transfer that
/// completes a beat's bits to that block on `m_axis_*` (unpacker 1, lane
/// gatherer 1, dequantizer 1, inverse transform 3; measured by the
/// top-level tests).
pub const DECOMPRESSOR_LATENCY: u64 = 1 + 1 + 1 + 3;

/// Nominal decompressor latency for block size `b`: [`DECOMPRESSOR_LATENCY`]
/// plus one cycle per extra unpacker sub-beat (B = 16: the block's second
/// 8-lane sub-beat leaves the unpacker one cycle after the first), plus the
/// output splitter's register for B > 16 (to the block's first port beat).
pub fn decompressor_latency(b: usize) -> u64 {
    let split = if port_beats(b) > 1 { 1 } else { 0 };
    DECOMPRESSOR_LATENCY + sub_beats(b) as u64 - 1 + split
}

/// Expected decompressor throughput in output values per cycle (words
/// always valid, sink always ready), per tile of T vectors: one sub-beat of
/// at most 8 lanes per cycle (`ceil(B/8)` per block) unless the unpacker's
/// one word per cycle (`W` bits) limits it; with dynamic grouping each tile also spends NB cycles on its
/// group maps and about 2 cycles waiting for the last map to be captured.
pub fn decompressor_throughput(policy: &Policy) -> f64 {
    let (b, nb, t) = (policy.block_size as f64, policy.num_blocks() as f64, policy.tile as f64);
    let bits_per_beat = policy.bits_per_vector() as f64 / nb;
    let subs = sub_beats(policy.block_size) as f64;
    let mut cycles = t * nb * (bits_per_beat / policy.word_bits as f64).max(subs);
    if policy.grouping == Grouping::Dynamic {
        cycles += nb * subs + 2.0;
    }
    b * nb * t / cycles
}
