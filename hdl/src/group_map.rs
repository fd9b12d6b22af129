//! Group-map side information of dynamic grouping in the payload: the
//! per-tile group map of one block travels as one packer beat of `B` lanes,
//! lane `k` = the group index of component `k` in `ceil(log2 G)` bits
//! (docs/stream-format.md, "Group map").
//!
//! * [`MapWiden`] (compressor side): the sorter's map word (3-bit lanes)
//!   as a packer code beat (8-bit lanes); the lane widths are a per-block
//!   constant ([`map_widths_bits`]).
//! * [`MapDecoder`] (decompressor side): captures one unpacked map beat
//!   (8-bit sign-extended lanes) into the block's group word (3-bit lanes,
//!   the dequantizer's `tuser`) and the matching code widths word (4-bit
//!   lanes, the unpacker's widths for the tile's code beats).
//!
//! The golden counterpart is the map writer/reader of
//! [`actcomp_golden::codec`] (`group_index_bits`).

use actcomp_golden::policy::group_index_bits;
use actcomp_golden::policy::BlockPolicy;
use rust_hdl::prelude::*;

use crate::lane_word::lane_word;

/// Packer/unpacker widths word of a block's map beat as a `UW`-bit
/// constant (`UW = 4*B`): every lane `ceil(log2 G)` bits (0 for a single
/// group), lane `i` in `[4i+3:4i]`. Panics if `UW != 4*B`.
pub fn map_widths_bits<const UW: usize>(blk: &BlockPolicy) -> Bits<UW> {
    assert_eq!(UW, 4 * blk.rank.len(), "UW must be 4*B");
    let w = group_index_bits(blk.groups.len()) as u64;
    lane_word(&vec![w; blk.rank.len()], 4)
}

/// Places an `N`-bit field at a constant bit offset of an `M`-bit word
/// (zero elsewhere). rust-hdl kernels cannot `bit_cast` a loop-indexed
/// signal, so per-lane fields are widened in these sub-blocks. The offset
/// is a 16-bit constant (8-bit lanes of B = 64 reach offset 504).
#[derive(LogicBlock)]
pub struct FieldPlace<const N: usize, const M: usize> {
    /// The field.
    pub field: Signal<In, Bits<N>>,
    /// `field << offset`, `M` bits.
    pub placed: Signal<Out, Bits<M>>,
    c_off: Constant<Bits<16>>,
}

impl<const N: usize, const M: usize> FieldPlace<N, M> {
    /// A field placed at bit `offset`.
    pub fn new(offset: usize) -> Self {
        assert!(offset + N <= M, "field does not fit");
        Self { field: Default::default(), placed: Default::default(), c_off: Constant::new((offset as u64).into()) }
    }
}

impl<const N: usize, const M: usize> Logic for FieldPlace<N, M> {
    #[hdl_gen]
    fn update(&mut self) {
        self.placed.next = bit_cast::<M, N>(self.field.val()) << self.c_off.val();
    }
}

/// Combinational: group word (lane `k` in `[3k+2:3k]`) to a code beat
/// (lane `k` zero-extended in `[8k+7:8k]`). `GW = 3*B`, `DW = 8*B`.
#[derive(LogicBlock)]
pub struct MapWiden<const B: usize, const GW: usize, const DW: usize> {
    /// Group word.
    pub groups: Signal<In, Bits<GW>>,
    /// The same indices, one per 8-bit lane.
    pub lanes: Signal<Out, Bits<DW>>,
    place: [FieldPlace<3, DW>; B],
    acc: [Signal<Local, Bits<DW>>; B],
}

impl<const B: usize, const GW: usize, const DW: usize> Default for MapWiden<B, GW, DW> {
    fn default() -> Self {
        assert!(GW == 3 * B && DW == 8 * B, "inconsistent MapWiden parameters");
        Self {
            groups: Default::default(),
            lanes: Default::default(),
            place: std::array::from_fn(|i| FieldPlace::new(8 * i)),
            acc: std::array::from_fn(|_| Default::default()),
        }
    }
}

impl<const B: usize, const GW: usize, const DW: usize> Logic for MapWiden<B, GW, DW> {
    #[hdl_gen]
    fn update(&mut self) {
        for i in 0..B {
            self.place[i].field.next = self.groups.val().get_bits::<3>(3 * i);
        }
        self.acc[0].next = self.place[0].placed.val();
        for i in 1..B {
            self.acc[i].next = self.acc[i - 1].val() | self.place[i].placed.val();
        }
        self.lanes.next = 0.into();
        for i in 0..B {
            self.lanes.next = self.acc[i].val();
        }
    }
}

/// One block's map register on the decompressor side (see the module
/// documentation). On `load` it captures the unpacked map beat `lanes`;
/// `groups` and `widths` are registers holding the current tile's map.
/// Group indices `>= G` give width 0 (the hardware does not validate maps;
/// the golden decoder does). `DW = 8*B`, `GW = 3*B`, `UW = 4*B`.
#[derive(LogicBlock)]
pub struct MapDecoder<const B: usize, const DW: usize, const GW: usize, const UW: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Capture `lanes` at this clock edge.
    pub load: Signal<In, Bit>,
    /// Unpacked map beat, lane `k` (sign-extended field) in `[8k+7:8k]`.
    pub lanes: Signal<In, Bits<DW>>,
    /// Group of each component, lane `k` in `[3k+2:3k]` (register).
    pub groups: Signal<Out, Bits<GW>>,
    /// Code width of each component, lane `k` in `[4k+3:4k]` (register).
    pub widths: Signal<Out, Bits<UW>>,
    gplace: [FieldPlace<3, GW>; B],
    wplace: [FieldPlace<4, UW>; B],
    lane_g: [Signal<Local, Bits<3>>; B],
    lane_w: [Signal<Local, Bits<4>>; B],
    gacc: [Signal<Local, Bits<GW>>; B],
    wacc: [Signal<Local, Bits<UW>>; B],
    gall: Signal<Local, Bits<GW>>,
    wall: Signal<Local, Bits<UW>>,
    greg: DFF<Bits<GW>>,
    wreg: DFF<Bits<UW>>,
    c_mask: Constant<Bits<3>>,
    c_gidx: [Constant<Bits<3>>; 8],
    c_bits: [Constant<Bits<4>>; 8],
}

impl<const B: usize, const DW: usize, const GW: usize, const UW: usize> MapDecoder<B, DW, GW, UW> {
    /// The map register of one block policy (panics on inconsistent const
    /// parameters or more than 8 groups).
    pub fn new(blk: &BlockPolicy) -> Self {
        assert!(DW == 8 * B && GW == 3 * B && UW == 4 * B, "inconsistent MapDecoder parameters");
        assert_eq!(blk.rank.len(), B, "block size must be B");
        assert!((1..=8).contains(&blk.groups.len()), "1..=8 groups");
        let mask = (1u64 << group_index_bits(blk.groups.len())) - 1;
        Self {
            clock: Default::default(),
            load: Default::default(),
            lanes: Default::default(),
            groups: Default::default(),
            widths: Default::default(),
            gplace: std::array::from_fn(|i| FieldPlace::new(3 * i)),
            wplace: std::array::from_fn(|i| FieldPlace::new(4 * i)),
            lane_g: std::array::from_fn(|_| Default::default()),
            lane_w: std::array::from_fn(|_| Default::default()),
            gacc: std::array::from_fn(|_| Default::default()),
            wacc: std::array::from_fn(|_| Default::default()),
            gall: Default::default(),
            wall: Default::default(),
            greg: Default::default(),
            wreg: Default::default(),
            c_mask: Constant::new(mask.into()),
            c_gidx: std::array::from_fn(|g| Constant::new((g as u64).into())),
            c_bits: std::array::from_fn(|g| Constant::new(blk.groups.get(g).map_or(0, |gr| gr.bits as u64).into())),
        }
    }
}

impl<const B: usize, const DW: usize, const GW: usize, const UW: usize> Logic for MapDecoder<B, DW, GW, UW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, greg, wreg);
        for i in 0..B {
            self.lane_g[i].next = self.lanes.val().get_bits::<3>(8 * i) & self.c_mask.val();
            self.lane_w[i].next = 0.into();
            for g in 0..8 {
                if self.lane_g[i].val() == self.c_gidx[g].val() {
                    self.lane_w[i].next = self.c_bits[g].val();
                }
            }
            self.gplace[i].field.next = self.lane_g[i].val();
            self.wplace[i].field.next = self.lane_w[i].val();
        }
        self.gacc[0].next = self.gplace[0].placed.val();
        self.wacc[0].next = self.wplace[0].placed.val();
        for i in 1..B {
            self.gacc[i].next = self.gacc[i - 1].val() | self.gplace[i].placed.val();
            self.wacc[i].next = self.wacc[i - 1].val() | self.wplace[i].placed.val();
        }
        self.gall.next = 0.into();
        self.wall.next = 0.into();
        for i in 0..B {
            self.gall.next = self.gacc[i].val();
            self.wall.next = self.wacc[i].val();
        }
        if self.load.val() {
            self.greg.d.next = self.gall.val();
            self.wreg.d.next = self.wall.val();
        }
        self.groups.next = self.greg.q.val();
        self.widths.next = self.wreg.q.val();
    }
}
