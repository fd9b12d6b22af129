//! Quantizer unit: the group quantizer of one policy block (the hardware
//! counterpart of [`actcomp_golden::quantizer::fine_index`] and
//! [`actcomp_golden::quantizer::GroupQuantizer::quantize`]):
//!
//! `fine = clamp((y * qmul + 2^15) >> 16, -128, 127)`, `code = encode[fine + 128]`,
//! `width = bits`; a 0-bit group gives code 0, width 0.
//!
//! The block's groups (`qmul`, `bits`, `encode`) are constants baked into
//! the hardware by [`Quantizer::new`]. Each lane picks its group from
//! `s_axis_tuser`, so the same unit serves static and dynamic grouping.
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` | in | 1 | rising-edge clock |
//! | `reset` | in | 1 | synchronous, active high; while high `s_axis_tready` and `m_axis_tvalid` are low |
//! | `s_axis_tdata` | in | `YW = 16*B` | lane `i` = `y_i` (16-bit two's complement) in `[16i+15:16i]` |
//! | `s_axis_tuser` | in | `GW = 3*B` | lane `i` = group index 0..=7 in `[3i+2:3i]` (a group index >= G gives code 0, width 0) |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | input handshake; `s_axis_tready` is a register |
//! | `s_axis_tlast` | in | 1 | passed through |
//! | `m_axis_tdata` | out | `DW = 8*B` | lane `i` code, 8-bit two's complement (the `bits`-bit code sign-extended) in `[8i+7:8i]` |
//! | `m_axis_tuser` | out | `UW = 4*B` | lane `i` width (the group's `bits`, 0..=8) in `[4i+3:4i]` |
//! | `m_axis_tvalid` / `m_axis_tready` | out / in | 1 | output handshake; `m_axis_tvalid` is a register |
//! | `m_axis_tlast` | out | 1 | passed through |
//!
//! The output format is exactly the packer's input format
//! ([`crate::VarWidthPacker`]), so the two chain directly.
//!
//! # Micro-architecture
//!
//! Skid register, then a 4-stage pipeline ([`QUANTIZER_LATENCY`]: input
//! register; per lane the product's high half `f` and the group; per lane
//! the ROM address `{group, fine + 128}`; per lane the code and width), all
//! advancing together while the output register is free or taken. The
//! multiply (LUTs and carry chains on the iCE40) and the clamp are in
//! separate cycles. Per lane ([`QuantLane`]):
//!
//! * `qmul` of the lane's group: a constant-indexed mux over `G <= 8`
//!   constants (`Constant<Bits<16>>`, used as `Signed<16>`; qmul <= 32767 so
//!   the signed 16x16 multiply is exact);
//! * `v = y*qmul + 2^15 + 2^31` (unsigned modulo 2^32; `|y*qmul| < 2^30`),
//!   `f = v[31:16] = floor((y*qmul + 2^15) / 2^16) + 2^15`;
//! * clamp: `f < 2^15-128 -> 0`, `f > 2^15+127 -> 255`, else `f[7:0] ^ 0x80`
//!   (= fine + 128);
//! * the code ROM (rust-hdl `ROM` widget, 11-bit address `{group, fine+128}`,
//!   `256*G` entries, all others 0) and a constant-indexed width mux.

use actcomp_golden::policy::BlockPolicy;
use rust_hdl::prelude::*;

/// Cycles from the input transfer to the beat being valid on `m_axis_*`
/// (input register, product, ROM address, code).
pub const QUANTIZER_LATENCY: u64 = 4;

/// Largest number of groups in a block (the group index is 3 bits).
pub const QUANT_MAX_GROUPS: usize = 8;

/// One lane of the quantizer: multiplier, clamp, address register, code ROM,
/// width mux and output registers. `DW`/`UW` are the widths of the output
/// buses the lane's code and width are placed into.
#[derive(LogicBlock)]
pub struct QuantLane<const DW: usize, const UW: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Pipeline advance (registers load when high).
    pub en: Signal<In, Bit>,
    /// Transform output of this lane (stage-1 register).
    pub y: Signal<In, Bits<16>>,
    /// Group index of this lane (stage-1 register).
    pub group: Signal<In, Bits<3>>,
    /// Bit offset of this lane's code in `m_axis_tdata`.
    pub code_off: Signal<In, Bits<16>>,
    /// Bit offset of this lane's width in `m_axis_tuser`.
    pub width_off: Signal<In, Bits<16>>,
    /// Registered code, placed at `code_off`.
    pub code_placed: Signal<Out, Bits<DW>>,
    /// Registered width, placed at `width_off`.
    pub width_placed: Signal<Out, Bits<UW>>,
    qsel: Signal<Local, Bits<16>>,
    prod: Signal<Local, Signed<32>>,
    v: Signal<Local, Bits<32>>,
    f: Signal<Local, Bits<16>>,
    idx: Signal<Local, Bits<8>>,
    wsel: Signal<Local, Bits<4>>,
    fq: DFF<Bits<16>>,
    gq: DFF<Bits<3>>,
    addr: DFF<Bits<11>>,
    code: DFF<Bits<8>>,
    width: DFF<Bits<4>>,
    rom: ROM<Bits<8>, 11>,
    c_qmul: [Constant<Bits<16>>; QUANT_MAX_GROUPS],
    c_bits: [Constant<Bits<4>>; QUANT_MAX_GROUPS],
    c_gidx: [Constant<Bits<3>>; QUANT_MAX_GROUPS],
    c_bias: Constant<Bits<32>>,
    c_lo: Constant<Bits<16>>,
    c_hi: Constant<Bits<16>>,
    c_flip: Constant<Bits<8>>,
}

impl<const DW: usize, const UW: usize> QuantLane<DW, UW> {
    fn new(blk: &BlockPolicy) -> Self {
        let g = &blk.groups;
        let mut table = std::collections::BTreeMap::new();
        for (gi, grp) in g.iter().enumerate() {
            if grp.bits == 0 {
                continue; // default 0
            }
            for (f, &c) in grp.encode.iter().enumerate() {
                if c != 0 {
                    table.insert(Bits::<11>::from(((gi << 8) | f) as u64), Bits::<8>::from((c as u8) as u64));
                }
            }
        }
        let c16 = |v: u64| Constant::new(Bits::<16>::from(v));
        Self {
            clock: Default::default(),
            en: Default::default(),
            y: Default::default(),
            group: Default::default(),
            code_off: Default::default(),
            width_off: Default::default(),
            code_placed: Default::default(),
            width_placed: Default::default(),
            qsel: Default::default(),
            prod: Default::default(),
            v: Default::default(),
            f: Default::default(),
            idx: Default::default(),
            wsel: Default::default(),
            fq: Default::default(),
            gq: Default::default(),
            addr: Default::default(),
            code: Default::default(),
            width: Default::default(),
            rom: ROM::new(table),
            c_qmul: std::array::from_fn(|i| c16(g.get(i).filter(|x| x.bits > 0).map_or(0, |x| x.qmul as u64))),
            c_bits: std::array::from_fn(|i| Constant::new(Bits::<4>::from(g.get(i).map_or(0, |x| x.bits as u64)))),
            c_gidx: std::array::from_fn(|i| Constant::new(Bits::<3>::from(i as u64))),
            c_bias: Constant::new(Bits::<32>::from(0x8000_8000u64)),
            c_lo: c16(0x7F80),
            c_hi: c16(0x807F),
            c_flip: Constant::new(Bits::<8>::from(0x80u64)),
        }
    }
}

impl<const DW: usize, const UW: usize> Logic for QuantLane<DW, UW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, fq, gq, addr, code, width);
        // Stage 2: product, high half registered with the group.
        self.qsel.next = 0.into();
        for g in 0..QUANT_MAX_GROUPS {
            if self.group.val() == self.c_gidx[g].val() {
                self.qsel.next = self.c_qmul[g].val();
            }
        }
        self.prod.next = signed_cast(self.y.val()) * signed_cast(self.qsel.val());
        self.v.next = unsigned_cast(self.prod.val()) + self.c_bias.val();
        self.f.next = self.v.val().get_bits::<16>(16);
        if self.en.val() {
            self.fq.d.next = self.f.val();
            self.gq.d.next = self.group.val();
        }
        // Stage 3: clamp to the fine index, ROM address.
        self.idx.next = self.fq.q.val().get_bits::<8>(0) ^ self.c_flip.val();
        if self.fq.q.val() < self.c_lo.val() {
            self.idx.next = 0.into();
        }
        if self.fq.q.val() > self.c_hi.val() {
            self.idx.next = 0xFF.into();
        }
        if self.en.val() {
            self.addr.d.next = (bit_cast::<11, 3>(self.gq.q.val()) << 8) | bit_cast::<11, 8>(self.idx.val());
        }
        // Stage 4: code ROM and width mux.
        self.rom.address.next = self.addr.q.val();
        self.wsel.next = 0.into();
        for g in 0..QUANT_MAX_GROUPS {
            if self.addr.q.val().get_bits::<3>(8) == self.c_gidx[g].val() {
                self.wsel.next = self.c_bits[g].val();
            }
        }
        if self.en.val() {
            self.code.d.next = self.rom.data.val();
            self.width.d.next = self.wsel.val();
        }
        self.code_placed.next = bit_cast::<DW, 8>(self.code.q.val()) << self.code_off.val();
        self.width_placed.next = bit_cast::<UW, 4>(self.width.q.val()) << self.width_off.val();
    }
}

/// The quantizer unit for one block (see the module documentation). Const
/// parameters: `B` lanes (1..=16), `YW = 16*B`, `GW = 3*B`, `DW = 8*B`,
/// `UW = 4*B` (checked by [`Quantizer::new`]); aliases [`Quantizer4`],
/// [`Quantizer8`], [`Quantizer16`].
#[derive(LogicBlock)]
pub struct Quantizer<const B: usize, const YW: usize, const GW: usize, const DW: usize, const UW: usize> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Transform outputs, lane `i` in `[16i+15:16i]`.
    pub s_axis_tdata: Signal<In, Bits<YW>>,
    /// Group indices, lane `i` in `[3i+2:3i]`.
    pub s_axis_tuser: Signal<In, Bits<GW>>,
    /// Input beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Unit takes a beat (registered).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Passed through.
    pub s_axis_tlast: Signal<In, Bit>,
    /// Codes, lane `i` in `[8i+7:8i]`.
    pub m_axis_tdata: Signal<Out, Bits<DW>>,
    /// Widths, lane `i` in `[4i+3:4i]`.
    pub m_axis_tuser: Signal<Out, Bits<UW>>,
    /// Output valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Downstream takes the beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// Passed through.
    pub m_axis_tlast: Signal<Out, Bit>,
    lanes: [QuantLane<DW, UW>; B],
    codes: Signal<Local, Bits<DW>>,
    widths: Signal<Local, Bits<UW>>,
    accept: Signal<Local, Bit>,
    en: Signal<Local, Bit>,
    sk_data: DFF<Bits<YW>>,
    sk_user: DFF<Bits<GW>>,
    sk_last: DFF<Bit>,
    sk_valid: DFF<Bit>,
    x_data: DFF<Bits<YW>>,
    x_user: DFF<Bits<GW>>,
    x_last: DFF<Bit>,
    x_valid: DFF<Bit>,
    p_last: DFF<Bit>,
    p_valid: DFF<Bit>,
    a_last: DFF<Bit>,
    a_valid: DFF<Bit>,
    o_last: DFF<Bit>,
    o_valid: DFF<Bit>,
    c_code_off: [Constant<Bits<16>>; B],
    c_width_off: [Constant<Bits<16>>; B],
}

/// 4 lanes.
pub type Quantizer4 = Quantizer<4, 64, 12, 32, 16>;
/// 8 lanes.
pub type Quantizer8 = Quantizer<8, 128, 24, 64, 32>;
/// 16 lanes.
pub type Quantizer16 = Quantizer<16, 256, 48, 128, 64>;

impl<const B: usize, const YW: usize, const GW: usize, const DW: usize, const UW: usize> Quantizer<B, YW, GW, DW, UW> {
    /// Builds the unit for one block policy's groups (panics on
    /// inconsistent const parameters or an invalid group list).
    pub fn new(blk: &BlockPolicy) -> Self {
        assert!((1..=64).contains(&B), "B must be 1..=64");
        assert_eq!(YW, 16 * B, "YW must be 16*B");
        assert_eq!(GW, 3 * B, "GW must be 3*B");
        assert_eq!(DW, 8 * B, "DW must be 8*B");
        assert_eq!(UW, 4 * B, "UW must be 4*B");
        assert!((1..=QUANT_MAX_GROUPS).contains(&blk.groups.len()), "1..=8 groups");
        for g in &blk.groups {
            assert!(g.bits <= 8, "bits must be 0..=8");
            if g.bits > 0 {
                assert!((1..=32767).contains(&g.qmul), "qmul must be 1..=32767");
                assert_eq!(g.encode.len(), 256, "encode table must have 256 entries");
                let lim = 1i32 << (g.bits - 1);
                assert!(g.encode.iter().all(|&c| (-lim..lim).contains(&c)), "encode entries must fit `bits`");
            }
        }
        Self {
            clock: Default::default(),
            reset: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tuser: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tlast: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tuser: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tlast: Default::default(),
            lanes: std::array::from_fn(|_| QuantLane::new(blk)),
            codes: Default::default(),
            widths: Default::default(),
            accept: Default::default(),
            en: Default::default(),
            sk_data: Default::default(),
            sk_user: Default::default(),
            sk_last: Default::default(),
            sk_valid: Default::default(),
            x_data: Default::default(),
            x_user: Default::default(),
            x_last: Default::default(),
            x_valid: Default::default(),
            p_last: Default::default(),
            p_valid: Default::default(),
            a_last: Default::default(),
            a_valid: Default::default(),
            o_last: Default::default(),
            o_valid: Default::default(),
            c_code_off: std::array::from_fn(|i| Constant::new(Bits::<16>::from((8 * i) as u64))),
            c_width_off: std::array::from_fn(|i| Constant::new(Bits::<16>::from((4 * i) as u64))),
        }
    }
}

impl<const B: usize, const YW: usize, const GW: usize, const DW: usize, const UW: usize> Logic
    for Quantizer<B, YW, GW, DW, UW>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sk_data, sk_user, sk_last, sk_valid, x_data, x_user, x_last, x_valid, p_last, p_valid, a_last, a_valid,
            o_last,
            o_valid
        );
        self.s_axis_tready.next = !self.sk_valid.q.val() & !self.reset.val();
        self.accept.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        self.en.next = !self.o_valid.q.val() | self.m_axis_tready.val();
        if self.accept.val() & !self.en.val() {
            self.sk_data.d.next = self.s_axis_tdata.val();
            self.sk_user.d.next = self.s_axis_tuser.val();
            self.sk_last.d.next = self.s_axis_tlast.val();
            self.sk_valid.d.next = true;
        }
        // Stage 1: input register.
        if self.en.val() {
            if self.sk_valid.q.val() {
                self.x_data.d.next = self.sk_data.q.val();
                self.x_user.d.next = self.sk_user.q.val();
                self.x_last.d.next = self.sk_last.q.val();
                self.x_valid.d.next = true;
                self.sk_valid.d.next = false;
            } else {
                self.x_data.d.next = self.s_axis_tdata.val();
                self.x_user.d.next = self.s_axis_tuser.val();
                self.x_last.d.next = self.s_axis_tlast.val();
                self.x_valid.d.next = self.accept.val();
            }
            // stages 2 to 4 (registers inside the lanes)
            self.p_last.d.next = self.x_last.q.val();
            self.p_valid.d.next = self.x_valid.q.val();
            self.a_last.d.next = self.p_last.q.val();
            self.a_valid.d.next = self.p_valid.q.val();
            self.o_last.d.next = self.a_last.q.val();
            self.o_valid.d.next = self.a_valid.q.val();
        }
        self.codes.next = 0.into();
        self.widths.next = 0.into();
        for i in 0..B {
            self.lanes[i].clock.next = self.clock.val();
            self.lanes[i].en.next = self.en.val();
            self.lanes[i].y.next = self.x_data.q.val().get_bits::<16>(16 * i);
            self.lanes[i].group.next = self.x_user.q.val().get_bits::<3>(3 * i);
            self.lanes[i].code_off.next = self.c_code_off[i].val();
            self.lanes[i].width_off.next = self.c_width_off[i].val();
            self.codes.next = self.codes.val() | self.lanes[i].code_placed.val();
            self.widths.next = self.widths.val() | self.lanes[i].width_placed.val();
        }
        if self.reset.val() {
            self.sk_valid.d.next = false;
            self.x_valid.d.next = false;
            self.p_valid.d.next = false;
            self.a_valid.d.next = false;
            self.o_valid.d.next = false;
        }
        self.m_axis_tdata.next = self.codes.val();
        self.m_axis_tuser.next = self.widths.val();
        self.m_axis_tvalid.next = self.o_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.o_last.q.val();
    }
}
