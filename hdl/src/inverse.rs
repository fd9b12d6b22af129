//! Inverse block transform, fully parallel: `B` reconstructed components in,
//! `B` channel codes out (the hardware counterpart of
//! [`actcomp_golden::transform::BlockMatrices::inverse`]):
//!
//! `x̂_i = clamp(((Σ_k V[i][k]·ŷ_k + 2^(r−1)) >> r) + inverse_mean_i, code_min, code_max)`
//!
//! with an arithmetic (floor) shift. All constants (`V`, `r`, `inverse_mean`,
//! the code range) come from the policy block and become Verilog
//! `localparam`s.
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` / `reset` | in | 1 | rising edge; synchronous active-high reset (empties the pipeline) |
//! | `s_axis_tdata` | in | `16*B` | ŷ_k (two's complement) in `[16k+15:16k]` |
//! | `s_axis_tlast` | in | 1 | passed through |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | input handshake; `tready` = registered state and `reset` only |
//! | `m_axis_tdata` | out | `8*B` | x̂_i in `[8i+7:8i]`: int8 range as two's complement, uint8 range as unsigned (the range is a constant of the unit) |
//! | `m_axis_tlast` / `m_axis_tvalid` / `m_axis_tready` | out / out / in | 1 | output handshake (`tvalid` a register) |
//!
//! # Micro-architecture
//!
//! Three register stages; the pipeline advances when the skid register is
//! empty (`ce`), so `s_axis_tready` does not depend on `m_axis_tready`:
//!
//! 1. input register `ybus` (`16*B` bits);
//! 2. per channel ([`InvRow`]): `B` multipliers ([`InvMul`], 16x16 → 32
//!    two's complement, sign-extended to 40 bits) and their sum, registered
//!    in the row's 40-bit accumulator (`|acc| <= B·2^30 <= 2^36` for B <= 64);
//! 3. per channel, combinational from the accumulator: `+ 2^(r−1)`,
//!    arithmetic shift by the constant `r` (logical shift OR'ed with a
//!    constant sign fill), `+ inverse_mean_i`, clamp by signed compares
//!    (sign bit flipped, unsigned compare), low 8 bits → output register
//!    (plus skid register).
//!
//! `r` is capped at 38 inside the unit: `|acc| <= 2^36 < 2^37`, so for
//! `r >= 38`, `0 < acc + 2^(r−1) < 2^r` and the shifted value is 0 exactly
//! as in the golden model (and `acc + 2^37 < 2^39` still fits the signed
//! 40-bit accumulator). A cap of 35 would be wrong from B = 16 on: there
//! `acc` reaches `2^34` (every `V` and `ŷ` −32768), and `(2^34 + 2^34) >> 35
//! = 1` where the golden model gives 0 for `r >= 36`.
//!
//! Block sizes 1..=64 (the policy allows B up to 64). The channel offset
//! `8*i` of a row's output (up to 504 at B = 64) is a 16-bit constant.
//!
//! Multiplies use rust-hdl's unsigned `Bits<16> * Bits<16> -> Bits<32>` with
//! the two's complement correction `v·y = u_v·u_y − 2^16·([v<0]·u_y +
//! [y<0]·u_v) (mod 2^32)` (`[v<0]·u_y·2^16` is a shift of `y`, `[y<0]·u_v·2^16`
//! a constant). This keeps the rust-hdl simulation off its BigInt `Signed`
//! path; the emitted Verilog is an unsigned multiplier plus two subtractions.
//!
//! Latency 3 cycles; one beat per cycle when the sink is ready.

use actcomp_golden::policy::{BlockPolicy, CodeRange};
use actcomp_golden::transform::BlockMatrices;
use rust_hdl::prelude::*;

/// Accumulator width: 32-bit products of B <= 64 terms (`|acc| <= 2^36`)
/// plus the rounding constant (`<= 2^37`) fit the signed 40 bits.
pub const INV_ACC_BITS: usize = 40;

/// Largest shift the hardware applies: every larger `r` gives 0 before the
/// mean for any B <= 64 (see the module documentation).
pub const INV_SHIFT_CAP: u32 = 38;

/// The shift the hardware applies (`min(r, 38)`, identical results).
pub fn effective_shift(r: u32) -> u32 {
    r.min(INV_SHIFT_CAP)
}

const MASK40: u64 = (1u64 << 40) - 1;

/// One multiplier `p = v · y` with a constant `v`, two's complement,
/// sign-extended to 40 bits.
#[derive(LogicBlock)]
pub struct InvMul {
    /// ŷ (two's complement).
    pub y: Signal<In, Bits<16>>,
    /// Product, sign-extended to 40 bits.
    pub p: Signal<Out, Bits<40>>,
    raw: Signal<Local, Bits<32>>,
    c_v: Constant<Bits<16>>,
    c_vneg: Constant<Bit>,
    c_vcorr: Constant<Bits<32>>,
    c_ext: Constant<Bits<40>>,
}

impl InvMul {
    /// A multiplier by the constant `v` (-32768..=32767).
    pub fn new(v: i32) -> Self {
        assert!((-32768..=32767).contains(&v), "matrix entry {v} does not fit 16 bits");
        let u = v as u16 as u64;
        Self {
            y: Default::default(),
            p: Default::default(),
            raw: Default::default(),
            c_v: Constant::new(u.into()),
            c_vneg: Constant::new(v < 0),
            c_vcorr: Constant::new((u << 16).into()),
            c_ext: Constant::new((0xFFu64 << 32).into()),
        }
    }
}

impl Logic for InvMul {
    #[hdl_gen]
    fn update(&mut self) {
        self.raw.next = self.c_v.val() * self.y.val();
        if self.c_vneg.val() {
            self.raw.next = self.raw.val() - (bit_cast::<32, 16>(self.y.val()) << 16);
        }
        if self.y.val().get_bit(15) {
            self.raw.next = self.raw.val() - self.c_vcorr.val();
        }
        self.p.next = bit_cast::<40, 32>(self.raw.val());
        if self.raw.val().get_bit(31) {
            self.p.next = bit_cast::<40, 32>(self.raw.val()) | self.c_ext.val();
        }
    }
}

/// One output channel: `B` multipliers, the registered 40-bit sum, rounding
/// shift, mean, clamp; the 8-bit result placed at bit `8*i` of the output.
#[derive(LogicBlock)]
pub struct InvRow<const B: usize, const YW: usize, const OW: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Pipeline advance: load the accumulator.
    pub ce: Signal<In, Bit>,
    /// All ŷ of the beat (stage-1 register).
    pub y: Signal<In, Bits<YW>>,
    /// x̂_i at bit `8*i`, zero elsewhere (from the accumulator register).
    pub placed: Signal<Out, Bits<OW>>,
    /// Multipliers `V[i][k] · ŷ_k`.
    pub muls: [InvMul; B],
    sum: Signal<Local, Bits<40>>,
    acc: DFF<Bits<40>>,
    t: Signal<Local, Bits<40>>,
    sh: Signal<Local, Bits<40>>,
    z: Signal<Local, Bits<40>>,
    zf: Signal<Local, Bits<40>>,
    code: Signal<Local, Bits<8>>,
    c_round: Constant<Bits<40>>,
    c_shift: Constant<Bits<8>>,
    c_fill: Constant<Bits<40>>,
    c_mean: Constant<Bits<40>>,
    c_flip: Constant<Bits<40>>,
    c_lo: Constant<Bits<40>>,
    c_hi: Constant<Bits<40>>,
    c_lo8: Constant<Bits<8>>,
    c_hi8: Constant<Bits<8>>,
    c_pos: Constant<Bits<16>>,
}

impl<const B: usize, const YW: usize, const OW: usize> InvRow<B, YW, OW> {
    /// Row `i` of `m` for the code range `[lo, hi]`.
    pub fn new(m: &BlockMatrices, i: usize, lo: i32, hi: i32) -> Self {
        let r = effective_shift(m.inverse_shift);
        assert!(r >= 1);
        let c40 = |v: i64| Constant::new(((v as u64) & MASK40).into());
        let flip = 1i64 << 39;
        Self {
            clock: Default::default(),
            ce: Default::default(),
            y: Default::default(),
            placed: Default::default(),
            muls: std::array::from_fn(|k| InvMul::new(m.inverse[i * B + k])),
            sum: Default::default(),
            acc: Default::default(),
            t: Default::default(),
            sh: Default::default(),
            z: Default::default(),
            zf: Default::default(),
            code: Default::default(),
            c_round: c40(1i64 << (r - 1)),
            c_shift: Constant::new((r as u64).into()),
            c_fill: Constant::new((!(MASK40 >> r) & MASK40).into()),
            c_mean: c40(m.inverse_mean[i] as i64),
            c_flip: c40(flip),
            c_lo: c40(lo as i64 ^ flip),
            c_hi: c40(hi as i64 ^ flip),
            c_lo8: Constant::new((lo as u8 as u64).into()),
            c_hi8: Constant::new((hi as u8 as u64).into()),
            c_pos: Constant::new(((8 * i) as u64).into()),
        }
    }
}

impl<const B: usize, const YW: usize, const OW: usize> Logic for InvRow<B, YW, OW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc);
        for k in 0..B {
            self.muls[k].y.next = self.y.val().get_bits::<16>(16 * k);
        }
        self.sum.next = 0.into();
        for k in 0..B {
            self.sum.next = self.sum.val() + self.muls[k].p.val();
        }
        if self.ce.val() {
            self.acc.d.next = self.sum.val();
        }
        // (acc + 2^(r-1)) >> r, arithmetic
        self.t.next = self.acc.q.val() + self.c_round.val();
        self.sh.next = self.t.val() >> self.c_shift.val();
        if self.t.val().get_bit(39) {
            self.sh.next = (self.t.val() >> self.c_shift.val()) | self.c_fill.val();
        }
        // + mean, clamp (signed compare via flipped sign bit)
        self.z.next = self.sh.val() + self.c_mean.val();
        self.zf.next = self.z.val() ^ self.c_flip.val();
        self.code.next = self.z.val().get_bits::<8>(0);
        if self.zf.val() < self.c_lo.val() {
            self.code.next = self.c_lo8.val();
        }
        if self.zf.val() > self.c_hi.val() {
            self.code.next = self.c_hi8.val();
        }
        self.placed.next = bit_cast::<OW, 8>(self.code.val()) << self.c_pos.val();
    }
}

/// The fully parallel inverse transform of one block. `YW = 16*B`,
/// `OW = 8*B` (checked by [`InverseTransform::new`]).
#[derive(LogicBlock)]
pub struct InverseTransform<const B: usize, const YW: usize, const OW: usize> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// ŷ, 16 bits per component.
    pub s_axis_tdata: Signal<In, Bits<YW>>,
    /// Input valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Input ready (registered state only).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Passed through.
    pub s_axis_tlast: Signal<In, Bit>,
    /// x̂, 8 bits per channel.
    pub m_axis_tdata: Signal<Out, Bits<OW>>,
    /// Output valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Sink ready.
    pub m_axis_tready: Signal<In, Bit>,
    /// Output tlast.
    pub m_axis_tlast: Signal<Out, Bit>,
    /// One row per output channel.
    pub rows: [InvRow<B, YW, OW>; B],
    ce: Signal<Local, Bit>,
    fire: Signal<Local, Bit>,
    out_take: Signal<Local, Bit>,
    xbus: Signal<Local, Bits<OW>>,
    ybus: DFF<Bits<YW>>,
    v1: DFF<Bit>,
    l1: DFF<Bit>,
    v2: DFF<Bit>,
    l2: DFF<Bit>,
    out_data: DFF<Bits<OW>>,
    out_last: DFF<Bit>,
    out_valid: DFF<Bit>,
    skid_data: DFF<Bits<OW>>,
    skid_last: DFF<Bit>,
    skid_valid: DFF<Bit>,
}

/// B = 4.
pub type Inverse4 = InverseTransform<4, 64, 32>;
/// B = 8.
pub type Inverse8 = InverseTransform<8, 128, 64>;
/// B = 16.
pub type Inverse16 = InverseTransform<16, 256, 128>;
/// B = 32.
pub type Inverse32 = InverseTransform<32, 512, 256>;
/// B = 64.
pub type Inverse64 = InverseTransform<64, 1024, 512>;

impl<const B: usize, const YW: usize, const OW: usize> InverseTransform<B, YW, OW> {
    /// The inverse transform of `block` for `range` (int8: −128..127,
    /// uint8: 0..255). Panics if the block size is not `B` or the widths
    /// are inconsistent.
    pub fn new(block: &BlockPolicy, range: CodeRange) -> Self {
        assert_eq!(YW, 16 * B, "YW must be 16*B");
        assert_eq!(OW, 8 * B, "OW must be 8*B");
        assert!((1..=64).contains(&B), "B must be 1..=64");
        assert_eq!(block.mean.len(), B, "block size must equal B");
        let m = BlockMatrices::new(block);
        let (lo, hi) = (range.min(), range.max());
        Self {
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
            rows: std::array::from_fn(|i| InvRow::new(&m, i, lo, hi)),
            ce: Default::default(),
            fire: Default::default(),
            out_take: Default::default(),
            xbus: Default::default(),
            ybus: Default::default(),
            v1: Default::default(),
            l1: Default::default(),
            v2: Default::default(),
            l2: Default::default(),
            out_data: Default::default(),
            out_last: Default::default(),
            out_valid: Default::default(),
            skid_data: Default::default(),
            skid_last: Default::default(),
            skid_valid: Default::default(),
        }
    }
}

impl<const B: usize, const YW: usize, const OW: usize> Logic for InverseTransform<B, YW, OW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ybus, v1, l1, v2, l2, out_data, out_last, out_valid, skid_data, skid_last, skid_valid);
        // The pipeline advances while the skid register is empty.
        self.ce.next = !self.skid_valid.q.val();
        self.s_axis_tready.next = self.ce.val() & !self.reset.val();
        self.fire.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        if self.ce.val() {
            self.ybus.d.next = self.s_axis_tdata.val();
            self.v1.d.next = self.fire.val();
            self.l1.d.next = self.s_axis_tlast.val();
            self.v2.d.next = self.v1.q.val();
            self.l2.d.next = self.l1.q.val();
        }
        self.xbus.next = 0.into();
        for i in 0..B {
            self.rows[i].clock.next = self.clock.val();
            self.rows[i].ce.next = self.ce.val();
            self.rows[i].y.next = self.ybus.q.val();
            self.xbus.next = self.xbus.val() | self.rows[i].placed.val();
        }
        // Output register + skid register.
        self.out_take.next = self.out_valid.q.val() & self.m_axis_tready.val();
        if self.out_take.val() {
            self.out_valid.d.next = false;
            if self.skid_valid.q.val() {
                self.out_data.d.next = self.skid_data.q.val();
                self.out_last.d.next = self.skid_last.q.val();
                self.out_valid.d.next = true;
                self.skid_valid.d.next = false;
            }
        }
        if self.ce.val() & self.v2.q.val() {
            if !self.out_valid.q.val() | self.m_axis_tready.val() {
                self.out_data.d.next = self.xbus.val();
                self.out_last.d.next = self.l2.q.val();
                self.out_valid.d.next = true;
            } else {
                self.skid_data.d.next = self.xbus.val();
                self.skid_last.d.next = self.l2.q.val();
                self.skid_valid.d.next = true;
            }
        }
        if self.reset.val() {
            self.v1.d.next = false;
            self.v2.d.next = false;
            self.out_valid.d.next = false;
            self.out_last.d.next = false;
            self.skid_valid.d.next = false;
        }
        self.m_axis_tdata.next = self.out_data.q.val();
        self.m_axis_tvalid.next = self.out_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.out_last.q.val();
    }
}
