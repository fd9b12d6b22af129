//! Compressor top level (`actcomp_compressor`), static or dynamic grouping:
//! pixel vectors in, payload words out, bit-exact with
//! [`actcomp_golden::codec::Codec::compress`].
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` | in | 1 | rising edge |
//! | `reset` | in | 1 | synchronous, active high; empties every pipeline and zeroes the block / vector counters; while high `s_axis_tready` and `m_axis_tvalid` are low |
//! | `s_axis_tdata` | in | `9*LANES` | `LANES = min(B, 16)`: one block of one pixel vector (B <= 16), or beat `q` of the block's `B/16` port beats (B = 32, 64): lane `i` = code of channel `j*B + 16q + i` (9-bit two's complement, so int8 and uint8 codes both fit) in `[9i+8:9i]` |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | input handshake; `s_axis_tready` depends on registered state and `reset` only |
//! | `s_axis_tlast` | in | 1 | optional early tile end: set it on **every** beat (all NB blocks) of the last vector of a partial tile; the tile closes after that vector |
//! | `m_axis_tdata` | out | `W` | payload word |
//! | `m_axis_tvalid` / `m_axis_tready` | out / in | 1 | output handshake; `m_axis_tvalid` is a register |
//! | `m_axis_tlast` | out | 1 | last word of a tile |
//!
//! Beats come in payload order: vector-major, then block `0..NB` (NB = C/B),
//! then (B > 16) port beat `0..B/16` of the block; a [`LaneGather`] in
//! front of the block router assembles those into the block beat.
//! The unit counts blocks and vectors itself: a tile ends after the last
//! block of every `T`-th vector, or earlier after a vector whose beats
//! carry `s_axis_tlast` (use it on the last vector of the tensor to close a
//! final partial tile; setting it on the last vector of every tile is also
//! correct). Both counters restart after every tile end. Each block's
//! pipeline sees the tile end on its own beat of the last vector, so with
//! dynamic grouping `tlast` must be on all NB beats of that vector (static
//! grouping only looks at the last block's beat).
//!
//! # Micro-architecture
//!
//! One forward transform ([`TransformFull`], `B*B` multipliers, or
//! [`TransformSerial`], `B` multipliers) and one [`Quantizer`] per block,
//! each built with that block's constants, held in `Vec`s whose length is
//! the policy's block count (rust-hdl implements `Block` for `Vec` and
//! `#[hdl_gen]` evaluates loop bounds when the Verilog is generated, so the
//! block count is not a type parameter). Input beats are routed
//! round-robin by a registered block counter (`bsel`); outputs are merged
//! in the same order by a second counter (`osel`) into one
//! [`VarWidthPacker`] of `B` lanes. Selections are constant-compare loops,
//! no dynamic indexing.
//!
//! * Static grouping: the quantizers' group inputs are per-block constants
//!   (the static group map) and the transforms feed the quantizers directly.
//! * Dynamic grouping: a [`GroupSorter`] per block sits between transform
//!   and quantizer; it buffers the block's tile (2T entries), ranks the
//!   components by tile energy and replays the tile with each lane's group
//!   on `tuser`. The merge runs in two phases per tile: first the NB group
//!   maps (one packer beat per block, lane `k` = group index of component
//!   `k` in `ceil(log2 G_j)` bits, via [`MapWiden`]), then the tile's code
//!   beats; the quantizer beat of block NB-1 with `tlast` switches back to
//!   the map phase. The sorters add about `T + stages + 3` cycles of
//!   latency (a tile is ranked only once it has fully arrived) but no
//!   throughput loss beyond the NB map beats per tile.
//!
//! With NB blocks, each transform sees one beat every NB cycles, so a
//! serial transform (one beat per B cycles) keeps the top at full rate
//! when NB >= B.

use actcomp_golden::grouping::static_group_map;
use actcomp_golden::policy::{Grouping, Policy};
use rust_hdl::prelude::*;

use crate::group_map::{map_widths_bits, MapWiden};
use crate::lane_word::lane_word;
use crate::lane_split::{sub_beats, LaneGather, LaneSplitter};
use crate::grouping::{GroupSorter, SORTER_MAX_TILE};
use crate::packer::VarWidthPacker;
use crate::quantizer::Quantizer;
use crate::transform::{TransformFull, TransformSerial};

/// Multiplier budget of the forward transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multipliers {
    /// `B*B` multipliers per block transform, one beat per cycle each.
    Full,
    /// `B` multipliers per block transform, one beat per `B` cycles each.
    Serial,
}

impl Multipliers {
    /// `"full"` / `"serial"`.
    pub fn name(self) -> &'static str {
        match self {
            Multipliers::Full => "full",
            Multipliers::Serial => "serial",
        }
    }
    /// Multipliers of one block transform.
    pub fn per_block(self, b: usize) -> usize {
        match self {
            Multipliers::Full => b * b,
            Multipliers::Serial => b,
        }
    }
}

impl std::str::FromStr for Multipliers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Multipliers::Full),
            "serial" => Ok(Multipliers::Serial),
            o => Err(format!("unknown multiplier budget `{o}` (use full or serial)")),
        }
    }
}

/// Why a policy cannot be turned into a top level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopError(pub String);

impl std::fmt::Display for TopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TopError {}

/// Block sizes the top levels are built for.
pub const TOP_BLOCK_SIZES: [usize; 5] = [4, 8, 16, 32, 64];
/// Block sizes `--block hw` (the calibration default) picks from, largest
/// dividing C first: up to 16, whose per-block sorter, transform and
/// quantiser fit mid-size FPGAs; 32 and 64 build too, at several times
/// the area (`--block 32`, `--block 64`, or `--block all`).
pub const HW_DEFAULT_BLOCK_SIZES: [usize; 3] = [4, 8, 16];
/// Largest number of lanes on a top level's pixel port: blocks of more
/// channels travel as `B / 16` beats of 16 lanes (the compressor gathers
/// them, the decompressor splits its output into them).
pub const TOP_PORT_LANES: usize = 16;

/// Lanes of the top levels' pixel ports (compressor input, decompressor
/// output) for block size `b`: `min(b, 16)`.
pub const fn port_lanes(b: usize) -> usize {
    if b < TOP_PORT_LANES {
        b
    } else {
        TOP_PORT_LANES
    }
}

/// Pixel-port beats per block: `b / port_lanes(b)` (1 for B <= 16).
pub const fn port_beats(b: usize) -> usize {
    b / port_lanes(b)
}

/// Largest number of blocks (8-bit block counters).
pub const TOP_MAX_BLOCKS: usize = 255;

/// The `AW` parameter a policy's compressor is built with: the sorter
/// buffer size for dynamic grouping, 5 (unused) for static grouping.
pub fn compressor_addr_bits(policy: &Policy) -> usize {
    match policy.grouping {
        Grouping::Dynamic => sorter_addr_bits(policy.tile).unwrap_or(0),
        Grouping::Static => 5,
    }
}

/// Tile-buffer address bits of the dynamic-grouping sorters for tile `t`:
/// 5 (T <= 16) or 9 (T <= 256); `None` when larger.
pub fn sorter_addr_bits(tile: usize) -> Option<usize> {
    match tile {
        0..=16 => Some(5),
        17..=SORTER_MAX_TILE => Some(9),
        _ => None,
    }
}

/// Checks that `policy` can be built as a top level: valid, B in
/// [`TOP_BLOCK_SIZES`], at most [`TOP_MAX_BLOCKS`] blocks, and with dynamic
/// grouping a tile of at most 256 vectors.
pub fn check_top_policy(policy: &Policy) -> Result<(), TopError> {
    policy.validate().map_err(|e| TopError(format!("invalid policy: {e}")))?;
    if policy.grouping == Grouping::Dynamic && sorter_addr_bits(policy.tile).is_none() {
        return Err(TopError(format!(
            "dynamic grouping with tile T = {} is not supported by the top levels (the sorter's tile buffer holds T <= {SORTER_MAX_TILE})",
            policy.tile
        )));
    }
    let b = policy.block_size;
    if !TOP_BLOCK_SIZES.contains(&b) {
        return Err(TopError(format!(
            "block size B = {b} is not supported by the top levels (supported: B = 4, 8, 16, 32, 64; calibrate with --block hw, the default, or --block 64, 32, 16, 8, 4)"
        )));
    }
    if b > 16 && policy.grouping == Grouping::Dynamic && policy.tile > 16 {
        return Err(TopError(format!(
            "dynamic grouping with B = {b} and tile T = {} is not supported by the top levels (B = 32 and 64 are built for T <= 16; calibrate with --tile 16 or less)",
            policy.tile
        )));
    }
    if policy.num_blocks() > TOP_MAX_BLOCKS {
        return Err(TopError(format!("{} blocks; the top levels support at most {TOP_MAX_BLOCKS}", policy.num_blocks())));
    }
    Ok(())
}

/// Static group map of block `j` packed as the quantizer's `tuser`
/// (lane `i` group index in bits `[3i+2:3i]`, `N = 3B` bits).
pub fn static_groups_word<const N: usize>(policy: &Policy, j: usize) -> Bits<N> {
    let groups: Vec<u64> = static_group_map(&policy.blocks[j]).iter().map(|&g| g as u64).collect();
    lane_word(&groups, 3)
}

/// Static lane widths of block `j` as the packer/unpacker width word
/// (lane `i` width in bits `[4i+3:4i]`, `N = 4B` bits).
pub fn static_widths_word<const N: usize>(policy: &Policy, j: usize) -> Bits<N> {
    let blk = &policy.blocks[j];
    let widths: Vec<u64> = static_group_map(blk).iter().map(|&g| blk.groups[g as usize].bits as u64).collect();
    lane_word(&widths, 4)
}


/// The compressor top level (see the module documentation). Const
/// parameters: `B` lanes, `XW = 9B`, `YW = 16B`, `KB = log2 B`, `GW = 3B`,
/// `DW = 8B`, `UW = 4B`, `W` word bits, `A` packer accumulator bits
/// ([`crate::packer_acc_bits`]), `RW = YW + 1` and `AW` (sorter tile
/// buffer of `2^AW = 2T` vectors, see [`sorter_addr_bits`]); use the
/// aliases such as [`Compressor4x32`] (T <= 16) and [`Compressor4x32T256`].
#[derive(LogicBlock)]
pub struct Compressor<
    const B: usize,
    const XW: usize,
    const YW: usize,
    const KB: usize,
    const GW: usize,
    const DW: usize,
    const UW: usize,
    const W: usize,
    const A: usize,
    const RW: usize,
    const AW: usize,
    const PL: usize,
    const PDW: usize,
    const PUW: usize,
    const IW: usize,
> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// One block of one pixel vector (B <= 16), or one of its `B/16`
    /// 16-lane parts (B = 32, 64): lane `i` (9-bit code) in `[9i+8:9i]`.
    pub s_axis_tdata: Signal<In, Bits<IW>>,
    /// Input beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Unit takes a beat (registered state and reset only).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Early tile end: this beat belongs to the last vector of a partial tile.
    pub s_axis_tlast: Signal<In, Bit>,
    /// Payload word.
    pub m_axis_tdata: Signal<Out, Bits<W>>,
    /// Word valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Sink takes the word.
    pub m_axis_tready: Signal<In, Bit>,
    /// Last word of a tile.
    pub m_axis_tlast: Signal<Out, Bit>,
    /// Gathers the `B/16` port beats of a block (one for B > 16, none for
    /// B <= 16, where the port is one block wide).
    pub gather: Vec<LaneGather<IW, XW>>,
    /// Fully parallel transforms, one per block (empty for the serial budget).
    pub full: Vec<TransformFull<B, XW, YW>>,
    /// Time-multiplexed transforms, one per block (empty for the full budget).
    pub serial: Vec<TransformSerial<B, XW, YW, KB>>,
    /// Group importance sorters, one per block (empty for static grouping).
    pub sorter: Vec<GroupSorter<B, YW, GW, RW, AW>>,
    /// Quantizers, one per block.
    pub quant: Vec<Quantizer<B, YW, GW, DW, UW>>,
    /// Group map (3-bit lanes) to packer lanes (8-bit).
    pub widen: MapWiden<B, GW, DW>,
    /// Merged block beats (`B` lanes) as packer sub-beats of `PL` lanes.
    pub split: LaneSplitter<DW, UW, PDW, PUW>,
    /// The packer (`PL = min(B, 8)` lanes).
    pub packer: VarWidthPacker<PL, PDW, PUW, W, A>,
    c_idx: Vec<Constant<Bits<8>>>,
    c_groups: Vec<Constant<Bits<GW>>>,
    c_mapw: Vec<Constant<Bits<UW>>>,
    c_dyn: Constant<Bit>,
    c_last_blk: Constant<Bits<8>>,
    c_last_vec: Constant<Bits<16>>,
    bsel: DFF<Bits<8>>,
    vcnt: DFF<Bits<16>>,
    osel: DFF<Bits<8>>,
    code_phase: DFF<Bit>,
    t_data: Vec<Signal<Local, Bits<YW>>>,
    t_valid: Vec<Signal<Local, Bit>>,
    t_last: Vec<Signal<Local, Bit>>,
    t_ready: Vec<Signal<Local, Bit>>,
    in_ready: Signal<Local, Bit>,
    in_data: Signal<Local, Bits<XW>>,
    in_valid: Signal<Local, Bit>,
    in_last: Signal<Local, Bit>,
    in_open: Signal<Local, Bit>,
    accept: Signal<Local, Bit>,
    beat_end: Signal<Local, Bit>,
    map_phase: Signal<Local, Bit>,
    osel_last: Signal<Local, Bit>,
    mg_valid: Signal<Local, Bit>,
    mg_data: Signal<Local, Bits<DW>>,
    mg_user: Signal<Local, Bits<UW>>,
    mg_last: Signal<Local, Bit>,
    mg_take: Signal<Local, Bit>,
    mp_groups: Signal<Local, Bits<GW>>,
}

/// Declares a compressor alias for block size `b`, word bits `w` and sorter
/// buffer address bits `aw`; every other parameter follows from these.
macro_rules! compressor_alias {
    ($(#[$m:meta])* $name:ident = $b:literal, $w:literal, $aw:literal) => {
        $(#[$m])*
        pub type $name = Compressor<
            $b,
            { 9 * $b },
            { 16 * $b },
            { ($b as usize).trailing_zeros() as usize },
            { 3 * $b },
            { 8 * $b },
            { 4 * $b },
            $w,
            { crate::packer::packer_acc_bits(crate::lane_split::narrow_lanes($b), $w) },
            { 16 * $b + 1 },
            $aw,
            { crate::lane_split::narrow_lanes($b) },
            { 8 * crate::lane_split::narrow_lanes($b) },
            { 4 * crate::lane_split::narrow_lanes($b) },
            { 9 * crate::compressor::port_lanes($b) },
        >;
    };
}

compressor_alias!(/// B = 4, W = 32, dynamic tile T <= 16.
    Compressor4x32 = 4, 32, 5);
compressor_alias!(/// B = 4, W = 64, dynamic tile T <= 16.
    Compressor4x64 = 4, 64, 5);
compressor_alias!(/// B = 8, W = 32 (a beat of more than 32 bits stalls the packer), dynamic tile T <= 16.
    Compressor8x32 = 8, 32, 5);
compressor_alias!(/// B = 8, W = 64, dynamic tile T <= 16.
    Compressor8x64 = 8, 64, 5);
compressor_alias!(/// B = 16 (two 8-lane packer sub-beats per block beat), W = 32, dynamic tile T <= 16.
    Compressor16x32 = 16, 32, 5);
compressor_alias!(/// B = 16 (two 8-lane packer sub-beats per block beat), W = 64, dynamic tile T <= 16.
    Compressor16x64 = 16, 64, 5);
compressor_alias!(/// B = 4, W = 32, dynamic tile T <= 256.
    Compressor4x32T256 = 4, 32, 9);
compressor_alias!(/// B = 4, W = 64, dynamic tile T <= 256.
    Compressor4x64T256 = 4, 64, 9);
compressor_alias!(/// B = 8, W = 32, dynamic tile T <= 256.
    Compressor8x32T256 = 8, 32, 9);
compressor_alias!(/// B = 8, W = 64, dynamic tile T <= 256.
    Compressor8x64T256 = 8, 64, 9);
compressor_alias!(/// B = 16, W = 32, dynamic tile T <= 256.
    Compressor16x32T256 = 16, 32, 9);
compressor_alias!(/// B = 16, W = 64, dynamic tile T <= 256.
    Compressor16x64T256 = 16, 64, 9);
compressor_alias!(/// B = 32 (two 16-lane port beats, four 8-lane packer sub-beats per block), W = 32, dynamic tile T <= 16.
    Compressor32x32 = 32, 32, 5);
compressor_alias!(/// B = 32, W = 64, dynamic tile T <= 16.
    Compressor32x64 = 32, 64, 5);
compressor_alias!(/// B = 64 (four 16-lane port beats, eight 8-lane packer sub-beats per block), W = 32, dynamic tile T <= 16.
    Compressor64x32 = 64, 32, 5);
compressor_alias!(/// B = 64, W = 64, dynamic tile T <= 16.
    Compressor64x64 = 64, 64, 5);

/// Evaluates `$body` with the type name `$t` bound to the compressor alias
/// that fits `$policy` (block size, word bits, sorter buffer); evaluates to
/// `Err(TopError.into())` when no alias fits. The one place that maps a
/// policy to a compressor type: Verilog emission, the simulators and the
/// tests all go through it.
#[macro_export]
macro_rules! with_compressor_type {
    ($policy:expr, $t:ident => $body:expr) => {{
        let policy_for_type: &_ = $policy;
        match (policy_for_type.block_size, policy_for_type.word_bits, $crate::compressor_addr_bits(policy_for_type)) {
            (4, 32, 5) => { type $t = $crate::Compressor4x32; $body }
            (4, 64, 5) => { type $t = $crate::Compressor4x64; $body }
            (8, 32, 5) => { type $t = $crate::Compressor8x32; $body }
            (8, 64, 5) => { type $t = $crate::Compressor8x64; $body }
            (16, 32, 5) => { type $t = $crate::Compressor16x32; $body }
            (16, 64, 5) => { type $t = $crate::Compressor16x64; $body }
            (4, 32, 9) => { type $t = $crate::Compressor4x32T256; $body }
            (4, 64, 9) => { type $t = $crate::Compressor4x64T256; $body }
            (8, 32, 9) => { type $t = $crate::Compressor8x32T256; $body }
            (8, 64, 9) => { type $t = $crate::Compressor8x64T256; $body }
            (16, 32, 9) => { type $t = $crate::Compressor16x32T256; $body }
            (16, 64, 9) => { type $t = $crate::Compressor16x64T256; $body }
            (32, 32, 5) => { type $t = $crate::Compressor32x32; $body }
            (32, 64, 5) => { type $t = $crate::Compressor32x64; $body }
            (64, 32, 5) => { type $t = $crate::Compressor64x32; $body }
            (64, 64, 5) => { type $t = $crate::Compressor64x64; $body }
            (b, _, 9) if b > 16 => Err($crate::TopError(format!("dynamic grouping with B = {b} supports tiles T <= 16 (the B = 32 / 64 units are built with the 2T <= 32-vector sorter buffer); calibrate with --tile 16 or less")).into()),
            (b, w, _) => Err($crate::TopError(format!("no compressor configuration for B = {b}, W = {w}")).into()),
        }
    }};
}

impl<
        const B: usize,
        const XW: usize,
        const YW: usize,
        const KB: usize,
        const GW: usize,
        const DW: usize,
        const UW: usize,
        const W: usize,
        const A: usize,
        const RW: usize,
        const AW: usize,
        const PL: usize,
        const PDW: usize,
        const PUW: usize,
        const IW: usize,
    > Compressor<B, XW, YW, KB, GW, DW, UW, W, A, RW, AW, PL, PDW, PUW, IW>
{
    /// Builds the top level of a policy with the given multiplier budget.
    /// Errors on a block size other than `B`, a word size other than `W`,
    /// too many blocks, or (dynamic grouping) a tile larger than `2^(AW-1)`.
    pub fn new(policy: &Policy, mult: Multipliers) -> Result<Self, TopError> {
        check_top_policy(policy)?;
        if policy.block_size != B || policy.word_bits as usize != W {
            return Err(TopError(format!(
                "policy has B = {}, W = {}; this unit is B = {B}, W = {W}",
                policy.block_size, policy.word_bits
            )));
        }
        let dynamic = policy.grouping == Grouping::Dynamic;
        if dynamic && policy.tile > (1 << (AW - 1)) {
            return Err(TopError(format!("tile T = {} does not fit this unit's sorter buffer (T <= {})", policy.tile, 1 << (AW - 1))));
        }
        assert_eq!(IW, 9 * port_lanes(B), "IW must be 9 * port_lanes(B)");
        let nb = policy.num_blocks();
        Ok(Self {
            gather: if port_beats(B) > 1 { vec![LaneGather::new()] } else { vec![] },
            in_data: Default::default(),
            in_valid: Default::default(),
            in_last: Default::default(),
            in_open: Default::default(),
            clock: Default::default(),
            reset: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tlast: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tlast: Default::default(),
            full: match mult {
                Multipliers::Full => policy.blocks.iter().map(TransformFull::new).collect(),
                Multipliers::Serial => vec![],
            },
            serial: match mult {
                Multipliers::Serial => policy.blocks.iter().map(TransformSerial::new).collect(),
                Multipliers::Full => vec![],
            },
            sorter: if dynamic { policy.blocks.iter().map(GroupSorter::new).collect() } else { vec![] },
            quant: policy.blocks.iter().map(Quantizer::new).collect(),
            widen: Default::default(),
            split: LaneSplitter::new(),
            packer: VarWidthPacker::new(),
            c_idx: (0..nb).map(|j| Constant::new((j as u64).into())).collect(),
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
            c_last_blk: Constant::new(((nb - 1) as u64).into()),
            c_last_vec: Constant::new(((policy.tile - 1) as u64).into()),
            bsel: Default::default(),
            vcnt: Default::default(),
            osel: Default::default(),
            code_phase: Default::default(),
            t_data: (0..nb).map(|_| Default::default()).collect(),
            t_valid: (0..nb).map(|_| Default::default()).collect(),
            t_last: (0..nb).map(|_| Default::default()).collect(),
            t_ready: (0..nb).map(|_| Default::default()).collect(),
            in_ready: Default::default(),
            accept: Default::default(),
            beat_end: Default::default(),
            map_phase: Default::default(),
            osel_last: Default::default(),
            mg_valid: Default::default(),
            mg_data: Default::default(),
            mg_user: Default::default(),
            mg_last: Default::default(),
            mg_take: Default::default(),
            mp_groups: Default::default(),
        })
    }

    /// Number of blocks (per-block pipelines).
    pub fn blocks(&self) -> usize {
        self.quant.len()
    }
}

impl<
        const B: usize,
        const XW: usize,
        const YW: usize,
        const KB: usize,
        const GW: usize,
        const DW: usize,
        const UW: usize,
        const W: usize,
        const A: usize,
        const RW: usize,
        const AW: usize,
        const PL: usize,
        const PDW: usize,
        const PUW: usize,
        const IW: usize,
    > Logic for Compressor<B, XW, YW, KB, GW, DW, UW, W, A, RW, AW, PL, PDW, PUW, IW>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, bsel, vcnt, osel, code_phase);
        // Input side: the beat goes to the pipeline of block `bsel`; it ends
        // the tile when it belongs to vector T-1 or carries `s_axis_tlast`.
        // B > 16: the gatherer assembles the block from its 16-lane port
        // beats; B <= 16: the port beat is the block beat.
        self.in_data.next = bit_cast::<XW, IW>(self.s_axis_tdata.val());
        self.in_valid.next = self.s_axis_tvalid.val();
        self.in_last.next = self.s_axis_tlast.val();
        for g in 0..self.gather.len() {
            self.gather[g].clock.next = self.clock.val();
            self.gather[g].reset.next = self.reset.val();
            self.gather[g].s_axis_tdata.next = self.s_axis_tdata.val();
            self.gather[g].s_axis_tvalid.next = self.s_axis_tvalid.val();
            self.gather[g].s_axis_tlast.next = self.s_axis_tlast.val();
            self.in_data.next = self.gather[g].m_axis_tdata.val();
            self.in_valid.next = self.gather[g].m_axis_tvalid.val();
            self.in_last.next = self.gather[g].m_axis_tlast.val();
        }
        self.beat_end.next = self.in_last.val() | (self.vcnt.q.val() == self.c_last_vec.val());
        self.in_ready.next = false;
        for j in 0..self.full.len() {
            self.full[j].clock.next = self.clock.val();
            self.full[j].reset.next = self.reset.val();
            self.full[j].s_axis_tdata.next = self.in_data.val();
            self.full[j].s_axis_tlast.next = self.beat_end.val();
            self.full[j].s_axis_tvalid.next = false;
            if self.bsel.q.val() == self.c_idx[j].val() {
                self.in_ready.next = self.full[j].s_axis_tready.val();
                self.full[j].s_axis_tvalid.next = self.in_valid.val();
            }
            self.t_data[j].next = self.full[j].m_axis_tdata.val();
            self.t_valid[j].next = self.full[j].m_axis_tvalid.val();
            self.t_last[j].next = self.full[j].m_axis_tlast.val();
            self.full[j].m_axis_tready.next = self.t_ready[j].val();
        }
        for j in 0..self.serial.len() {
            self.serial[j].clock.next = self.clock.val();
            self.serial[j].reset.next = self.reset.val();
            self.serial[j].s_axis_tdata.next = self.in_data.val();
            self.serial[j].s_axis_tlast.next = self.beat_end.val();
            self.serial[j].s_axis_tvalid.next = false;
            if self.bsel.q.val() == self.c_idx[j].val() {
                self.in_ready.next = self.serial[j].s_axis_tready.val();
                self.serial[j].s_axis_tvalid.next = self.in_valid.val();
            }
            self.t_data[j].next = self.serial[j].m_axis_tdata.val();
            self.t_valid[j].next = self.serial[j].m_axis_tvalid.val();
            self.t_last[j].next = self.serial[j].m_axis_tlast.val();
            self.serial[j].m_axis_tready.next = self.t_ready[j].val();
        }
        self.in_open.next = self.in_ready.val() & !self.reset.val();
        self.s_axis_tready.next = self.in_open.val();
        for g in 0..self.gather.len() {
            self.gather[g].m_axis_tready.next = self.in_open.val();
            self.s_axis_tready.next = self.gather[g].s_axis_tready.val();
        }
        self.accept.next = self.in_valid.val() & self.in_open.val();
        if self.accept.val() {
            if self.bsel.q.val() == self.c_last_blk.val() {
                self.bsel.d.next = 0.into();
                self.vcnt.d.next = self.vcnt.q.val() + 1;
                if self.beat_end.val() {
                    self.vcnt.d.next = 0.into();
                }
            } else {
                self.bsel.d.next = self.bsel.q.val() + 1;
            }
        }
        // Static grouping: transform -> quantizer, constant group map
        // (`c_groups` is empty with dynamic grouping).
        for j in 0..self.c_groups.len() {
            self.quant[j].s_axis_tdata.next = self.t_data[j].val();
            self.quant[j].s_axis_tvalid.next = self.t_valid[j].val();
            self.quant[j].s_axis_tlast.next = self.t_last[j].val();
            self.quant[j].s_axis_tuser.next = self.c_groups[j].val();
            self.t_ready[j].next = self.quant[j].s_axis_tready.val();
        }
        // Dynamic grouping: transform -> sorter -> quantizer.
        for j in 0..self.sorter.len() {
            self.sorter[j].clock.next = self.clock.val();
            self.sorter[j].reset.next = self.reset.val();
            self.sorter[j].s_axis_tdata.next = self.t_data[j].val();
            self.sorter[j].s_axis_tvalid.next = self.t_valid[j].val();
            self.sorter[j].s_axis_tlast.next = self.t_last[j].val();
            self.t_ready[j].next = self.sorter[j].s_axis_tready.val();
            self.quant[j].s_axis_tdata.next = self.sorter[j].m_axis_tdata.val();
            self.quant[j].s_axis_tvalid.next = self.sorter[j].m_axis_tvalid.val();
            self.quant[j].s_axis_tlast.next = self.sorter[j].m_axis_tlast.val();
            self.quant[j].s_axis_tuser.next = self.sorter[j].m_axis_tuser.val();
            self.sorter[j].m_axis_tready.next = self.quant[j].s_axis_tready.val();
        }
        // Merge in block order into the packer: with dynamic grouping each
        // tile starts with the NB group maps (map phase), then its codes.
        self.map_phase.next = self.c_dyn.val() & !self.code_phase.q.val();
        self.osel_last.next = self.osel.q.val() == self.c_last_blk.val();
        self.mg_valid.next = false;
        self.mg_data.next = 0.into();
        self.mg_user.next = 0.into();
        self.mg_last.next = false;
        self.mp_groups.next = 0.into();
        for j in 0..self.quant.len() {
            self.quant[j].clock.next = self.clock.val();
            self.quant[j].reset.next = self.reset.val();
            self.quant[j].m_axis_tready.next = false;
            if (self.osel.q.val() == self.c_idx[j].val()) & !self.map_phase.val() {
                self.mg_valid.next = self.quant[j].m_axis_tvalid.val();
                self.mg_data.next = self.quant[j].m_axis_tdata.val();
                self.mg_user.next = self.quant[j].m_axis_tuser.val();
                self.mg_last.next = self.quant[j].m_axis_tlast.val() & self.osel_last.val();
                self.quant[j].m_axis_tready.next = self.split.s_axis_tready.val();
            }
        }
        for j in 0..self.sorter.len() {
            self.sorter[j].m_map_tready.next = false;
            if (self.osel.q.val() == self.c_idx[j].val()) & self.map_phase.val() {
                self.mg_valid.next = self.sorter[j].m_map_tvalid.val();
                self.mp_groups.next = self.sorter[j].m_map_tdata.val();
                self.mg_user.next = self.c_mapw[j].val();
                self.sorter[j].m_map_tready.next = self.split.s_axis_tready.val();
            }
        }
        self.widen.groups.next = self.mp_groups.val();
        if self.map_phase.val() {
            self.mg_data.next = self.widen.lanes.val();
        }
        self.split.clock.next = self.clock.val();
        self.split.reset.next = self.reset.val();
        self.split.s_axis_tdata.next = self.mg_data.val();
        self.split.s_axis_tuser.next = self.mg_user.val();
        self.split.s_axis_tlast.next = self.mg_last.val();
        self.split.s_axis_tvalid.next = self.mg_valid.val();
        self.mg_take.next = self.mg_valid.val() & self.split.s_axis_tready.val();
        self.packer.clock.next = self.clock.val();
        self.packer.reset.next = self.reset.val();
        self.packer.s_axis_tdata.next = self.split.m_axis_tdata.val();
        self.packer.s_axis_tuser.next = self.split.m_axis_tuser.val();
        self.packer.s_axis_tlast.next = self.split.m_axis_tlast.val();
        self.packer.s_axis_tvalid.next = self.split.m_axis_tvalid.val();
        self.split.m_axis_tready.next = self.packer.s_axis_tready.val();
        if self.mg_take.val() {
            if self.osel_last.val() {
                self.osel.d.next = 0.into();
                if self.map_phase.val() {
                    self.code_phase.d.next = true;
                }
                if self.mg_last.val() {
                    self.code_phase.d.next = false;
                }
            } else {
                self.osel.d.next = self.osel.q.val() + 1;
            }
        }
        if self.reset.val() {
            self.bsel.d.next = 0.into();
            self.vcnt.d.next = 0.into();
            self.osel.d.next = 0.into();
            self.code_phase.d.next = false;
        }
        self.packer.m_axis_tready.next = self.m_axis_tready.val();
        self.m_axis_tdata.next = self.packer.m_axis_tdata.val();
        self.m_axis_tvalid.next = self.packer.m_axis_tvalid.val();
        self.m_axis_tlast.next = self.packer.m_axis_tlast.val();
    }
}

/// Emits the compressor top level of `policy` as Verilog with the top
/// module named `actcomp_compressor` (checked with
/// [`crate::check_emitted`]).
pub fn compressor_verilog(policy: &Policy, mult: Multipliers) -> Result<String, TopError> {
    check_top_policy(policy)?;
    fn emit<T: Block>(mut t: T) -> Result<String, TopError> {
        let v = crate::emit_verilog(&mut t, "actcomp_compressor").map_err(|e| TopError(e.to_string()))?;
        let problems = crate::check_emitted(&v);
        if !problems.is_empty() {
            return Err(TopError(format!("emitted Verilog failed the pitfall check: {problems:?}")));
        }
        Ok(v)
    }
    crate::with_compressor_type!(policy, T => emit(T::new(policy, mult)?))
}

/// Nominal latency of the compressor in cycles: from the input transfer of
/// a beat whose bits complete a word to that word being valid on
/// `m_axis_*` (transform 3 or B + 3, quantizer [`crate::QUANTIZER_LATENCY`]
/// = 4, lane splitter 1, packer [`crate::PACKER_LATENCY`] = 2, measured by
/// the top-level tests; a word completed by a later packer sub-beat of a
/// block beat takes one cycle more per sub-beat, `ceil(B/8)` in all; for
/// B > 16, counted from the block's first port beat, the `B/16 - 1` further
/// port beats and the gatherer's register add `B/16`).
pub fn compressor_latency(b: usize, mult: Multipliers) -> u64 {
    let gather = if port_beats(b) > 1 { port_beats(b) as u64 } else { 0 };
    let tail = crate::quantizer::QUANTIZER_LATENCY + sub_beats(b) as u64 + crate::packer::PACKER_LATENCY + gather;
    match mult {
        Multipliers::Full => 3 + tail,
        Multipliers::Serial => (b as u64 + 3) + tail,
    }
}

/// Expected compressor throughput in input values per cycle with the
/// source always valid and the sink always ready, per tile of T vectors:
/// the input takes one block beat per cycle (full transforms; B > 16: one
/// per `B/16` cycles, one port beat per cycle) or NB beats per B cycles
/// (serial transforms); the packer takes one sub-beat of at most 8
/// lanes per cycle (`ceil(B/8)` per block beat) and emits one `W`-bit word
/// per cycle, and with dynamic grouping it also takes the NB group-map
/// beats of every tile.
pub fn compressor_throughput(policy: &Policy, mult: Multipliers) -> f64 {
    let (b, nb, t) = (policy.block_size as f64, policy.num_blocks() as f64, policy.tile as f64);
    let xf = match mult {
        Multipliers::Full => 1.0,
        Multipliers::Serial => (nb / b).min(1.0),
    };
    let port = port_beats(policy.block_size) as f64;
    let input_cycles = t * nb * port.max(1.0 / xf);
    let w = policy.word_bits as f64;
    let code_bits = policy.bits_per_vector() as f64 / nb;
    let subs = sub_beats(policy.block_size) as f64;
    let mut packer_cycles = t * nb * (code_bits / w).max(subs);
    if policy.grouping == Grouping::Dynamic {
        for blk in &policy.blocks {
            let map_bits = (actcomp_golden::policy::group_index_bits(blk.groups.len()) as usize * blk.rank.len()) as f64;
            packer_cycles += (map_bits / w).max(subs);
        }
    }
    b * nb * t / input_cycles.max(packer_cycles)
}
