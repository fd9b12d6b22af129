//! Dimension-reduction unit: the forward block transform of one policy block
//! (the hardware counterpart of
//! [`actcomp_golden::transform::BlockMatrices::forward`]):
//!
//! `y_k = sat16((sum_i F[k][i] * (x_i - mean_i) + 2^(s_k-1)) >> s_k)`
//!
//! The block's `mean`, `forward` and `forward_shift` are constants baked into
//! the hardware by the constructor ([`TransformFull::new`],
//! [`TransformSerial::new`]).
//!
//! # Ports (AXI4-Stream style, both variants)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` | in | 1 | rising-edge clock |
//! | `reset` | in | 1 | synchronous, active high; while high `s_axis_tready` and `m_axis_tvalid` are low |
//! | `s_axis_tdata` | in | `XW = 9*B` | lane `i` = channel code `x_i` (9-bit two's complement: int8 or uint8 codes) in `[9i+8:9i]` |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | input handshake; `s_axis_tready` depends on registered state and `reset` only |
//! | `s_axis_tlast` | in | 1 | passed through with the beat |
//! | `m_axis_tdata` | out | `YW = 16*B` | lane `k` = `y_k` (16-bit two's complement) in `[16k+15:16k]` |
//! | `m_axis_tvalid` / `m_axis_tready` | out / in | 1 | output handshake; `m_axis_tvalid` is a register |
//! | `m_axis_tlast` | out | 1 | `s_axis_tlast` of the beat |
//!
//! # Arithmetic
//!
//! The mean is folded into a per-component constant:
//! `sum_i F[k][i] (x_i - m_i) = sum_i F[k][i] x_i - sum_i F[k][i] m_i`, so the
//! multipliers see the 9-bit codes directly (sign-extended to 16 bits for
//! rust-hdl's only multiply, `Signed<16> x Signed<16> -> Signed<32>`) and no
//! subtractor is needed. The accumulator is 32 bits, modulo 2^32: the
//! exact value `acc = sum_i F[k][i] (x_i - m_i)` satisfies
//! `|acc| <= B * 32768 * 511 < 2^29` for `B <= 16`, so intermediate wrap-around
//! is harmless. Rounding, the arithmetic (floor) shift and saturation are done
//! on unsigned 32-bit values with a bias of 2^31:
//!
//! * `u = 2^31 + 2^(s-1) - sum_i F m_i + sum_i F x_i = acc + 2^(s-1) + 2^31`
//!   (`0 < u < 2^32`; the first three terms are the constant `c_init`),
//! * `t = (u >> s) + (2^15 - 2^(31-s)) = floor((acc + 2^(s-1)) / 2^s) + 2^15`
//!   (logical shift; the second term is the constant `c_t`),
//! * `y = t[15:0] ^ 0x8000` if `t < 2^16`; `-32768` if `t[31]` (negative
//!   overflow); `32767` otherwise.
//!
//! Shifts above 31 give `y = 0` exactly as in the golden model (|acc| < 2^29),
//! so `s` is clamped to 31 when the constants are built.
//!
//! # Variants (multiplier budget M)
//!
//! * [`TransformFull`] (`M = B*B`): one beat per cycle, 3-stage pipeline
//!   (input register, accumulators, output register): latency 3 cycles from
//!   the input transfer to `m_axis_tvalid`.
//! * [`TransformSerial`] (`M = B`): one output component per cycle from
//!   per-lane coefficient ROMs, `B` cycles per beat (products registered before
//!   their sum); latency `B + 3` cycles.
//!
//! Both put a one-beat skid register in front so that `s_axis_tready` is a
//! register (no combinational path from `m_axis_tready`), and stall the whole
//! pipeline while the output register holds a word that is not taken.

use actcomp_golden::policy::BlockPolicy;
use rust_hdl::prelude::*;

/// Sign extension `Signed<N> -> Signed<M>` (M >= N, N <= 64) that works for
/// the most negative value (rust-hdl 0.46's `signed_bit_cast` recurses
/// forever on it). `#[hdl_gen]` matches calls by the prefix
/// `signed_bit_cast`, so this is emitted as `$signed(x)`, which Verilog
/// sign-extends in a wider signed context.
pub fn signed_bit_cast_sext<const M: usize, const N: usize>(x: Signed<N>) -> Signed<M> {
    assert!(M >= N && N <= 64 && M <= 64);
    let raw = x.inner().to_u64();
    let v = ((raw << (64 - N)) as i64) >> (64 - N);
    Signed::<M>::from(v)
}

/// Places an `N`-bit value at bit `offset` of a `W`-bit bus (zero elsewhere).
/// A sub-block because `bit_cast` of a loop-indexed signal does not compile
/// in rust-hdl 0.46.
#[derive(LogicBlock, Default)]
pub struct Place<const W: usize, const N: usize> {
    /// The field.
    pub value: Signal<In, Bits<N>>,
    /// Bit offset of the field (16 bits: lane offsets reach 16*63 at B = 64).
    pub offset: Signal<In, Bits<16>>,
    /// `value` zero-extended to `W` bits and shifted left by `offset`.
    pub placed: Signal<Out, Bits<W>>,
}

impl<const W: usize, const N: usize> Logic for Place<W, N> {
    #[hdl_gen]
    fn update(&mut self) {
        self.placed.next = bit_cast::<W, N>(self.value.val()) << self.offset.val();
    }
}

/// Constants of one output component: `(c_init, shift, c_t)` (see the module
/// documentation), as `u32` bit patterns.
pub fn component_constants(blk: &BlockPolicy, k: usize) -> (u32, u32, u32) {
    let s = blk.forward_shift[k].clamp(1, 31);
    let fm: i64 = blk.forward[k].iter().zip(&blk.mean).map(|(&f, &m)| f as i64 * m as i64).sum();
    let c_init = ((1i64 << 31) + (1i64 << (s - 1)) - fm).rem_euclid(1 << 32) as u32;
    let c_t = ((1i64 << 15) - (1i64 << (31 - s))).rem_euclid(1 << 32) as u32;
    (c_init, s, c_t)
}

fn check_block(blk: &BlockPolicy, b: usize) {
    assert_eq!(blk.mean.len(), b, "block policy has {} channels, the unit has B = {b}", blk.mean.len());
    assert_eq!(blk.forward.len(), b, "forward matrix has {} rows, expected {b}", blk.forward.len());
    assert_eq!(blk.forward_shift.len(), b, "forward_shift has {} entries, expected {b}", blk.forward_shift.len());
    for row in &blk.forward {
        assert_eq!(row.len(), b, "forward row has {} entries, expected {b}", row.len());
        assert!(row.iter().all(|&f| (-32768..=32767).contains(&f)), "forward entries must be 16-bit");
    }
    assert!(blk.mean.iter().all(|&m| (-256..=255).contains(&m)), "means must fit 9 bits");
    assert!(blk.forward_shift.iter().all(|&s| s >= 1), "forward_shift must be >= 1");
}

/// Rounding shift and saturation of one biased accumulator `u`:
/// `t = (u >> shift) + c_t`, then `y` (see the module documentation).
#[derive(LogicBlock)]
pub struct RoundSat {
    /// Biased accumulator `acc + 2^(s-1) + 2^31`.
    pub u: Signal<In, Bits<32>>,
    /// Shift `s` (1..=31).
    pub shift: Signal<In, Bits<8>>,
    /// `2^15 - 2^(31-s)` modulo 2^32.
    pub c_t: Signal<In, Bits<32>>,
    /// Saturated 16-bit result (two's complement).
    pub y: Signal<Out, Bits<16>>,
    t: Signal<Local, Bits<32>>,
    c_sign: Constant<Bits<16>>,
    c_max: Constant<Bits<16>>,
}

impl Default for RoundSat {
    fn default() -> Self {
        Self {
            u: Default::default(),
            shift: Default::default(),
            c_t: Default::default(),
            y: Default::default(),
            t: Default::default(),
            c_sign: Constant::new(0x8000u64.into()),
            c_max: Constant::new(0x7FFFu64.into()),
        }
    }
}

impl Logic for RoundSat {
    #[hdl_gen]
    fn update(&mut self) {
        self.t.next = (self.u.val() >> self.shift.val()) + self.c_t.val();
        self.y.next = self.t.val().get_bits::<16>(0) ^ self.c_sign.val();
        if self.t.val().get_bit(31) {
            self.y.next = self.c_sign.val();
        } else if self.t.val().get_bits::<16>(16) != 0 {
            self.y.next = self.c_max.val();
        }
    }
}

/// One output component of the fully parallel transform: `B` multipliers
/// with constant coefficients and the adder chain, `acc = c_init + sum_i
/// F[k][i] * x_i` (modulo 2^32).
#[derive(LogicBlock)]
pub struct FullRow<const B: usize, const XW: usize> {
    /// The input beat (lane `i` in bits `[9i+8:9i]`).
    pub x: Signal<In, Bits<XW>>,
    /// Biased accumulator `u` of this component.
    pub acc: Signal<Out, Bits<32>>,
    prod: [Signal<Local, Signed<32>>; B],
    f: [Constant<Bits<16>>; B],
    c_init: Constant<Bits<32>>,
}

impl<const B: usize, const XW: usize> FullRow<B, XW> {
    fn new(blk: &BlockPolicy, k: usize) -> Self {
        let (c_init, _, _) = component_constants(blk, k);
        Self {
            x: Default::default(),
            acc: Default::default(),
            prod: std::array::from_fn(|_| Default::default()),
            f: std::array::from_fn(|i| Constant::new(((blk.forward[k][i] as u16) as u64).into())),
            c_init: Constant::new((c_init as u64).into()),
        }
    }
}

impl<const B: usize, const XW: usize> Logic for FullRow<B, XW> {
    #[hdl_gen]
    fn update(&mut self) {
        self.acc.next = self.c_init.val();
        for i in 0..B {
            self.prod[i].next = signed_bit_cast_sext::<16, 9>(signed_cast(self.x.val().get_bits::<9>(9 * i)))
                * signed_cast(self.f[i].val());
            self.acc.next = self.acc.val() + unsigned_cast(self.prod[i].val());
        }
    }
}

/// Fully parallel forward transform (`M = B*B` multipliers), one beat per
/// cycle. Const parameters: `B` (4 to 64), `XW = 9*B`, `YW = 16*B`
/// (checked by [`TransformFull::new`]); aliases [`TransformFull4`],
/// [`TransformFull8`], [`TransformFull16`].
///
/// Pipeline: skid register -> `x` (input register) -> `u[k]` (accumulators)
/// -> output register (rounding and saturation in front of it).
#[derive(LogicBlock)]
pub struct TransformFull<const B: usize, const XW: usize, const YW: usize> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Input codes, lane `i` in `[9i+8:9i]`.
    pub s_axis_tdata: Signal<In, Bits<XW>>,
    /// Input beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Unit takes a beat (registered: skid buffer empty, not in reset).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Passed through.
    pub s_axis_tlast: Signal<In, Bit>,
    /// Transform outputs, lane `k` in `[16k+15:16k]`.
    pub m_axis_tdata: Signal<Out, Bits<YW>>,
    /// Output valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Downstream takes the beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// `tlast` of the beat.
    pub m_axis_tlast: Signal<Out, Bit>,
    rows: [FullRow<B, XW>; B],
    rs: [RoundSat; B],
    places: [Place<YW, 16>; B],
    ybus: Signal<Local, Bits<YW>>,
    accept: Signal<Local, Bit>,
    en: Signal<Local, Bit>,
    sk_data: DFF<Bits<XW>>,
    sk_last: DFF<Bit>,
    sk_valid: DFF<Bit>,
    x_data: DFF<Bits<XW>>,
    x_last: DFF<Bit>,
    x_valid: DFF<Bit>,
    u: [DFF<Bits<32>>; B],
    u_last: DFF<Bit>,
    u_valid: DFF<Bit>,
    o_data: DFF<Bits<YW>>,
    o_last: DFF<Bit>,
    o_valid: DFF<Bit>,
    c_shift: [Constant<Bits<8>>; B],
    c_t: [Constant<Bits<32>>; B],
    c_off: [Constant<Bits<16>>; B],
}

/// Fully parallel, B = 4 (16 multipliers).
pub type TransformFull4 = TransformFull<4, 36, 64>;
/// Fully parallel, B = 8 (64 multipliers).
pub type TransformFull8 = TransformFull<8, 72, 128>;
/// Fully parallel, B = 16 (256 multipliers).
pub type TransformFull16 = TransformFull<16, 144, 256>;

impl<const B: usize, const XW: usize, const YW: usize> TransformFull<B, XW, YW> {
    /// Builds the unit for one block policy (panics on inconsistent const
    /// parameters or a block of the wrong size).
    pub fn new(blk: &BlockPolicy) -> Self {
        assert!((1..=64).contains(&B), "B must be 1..=64");
        assert_eq!(XW, 9 * B, "XW must be 9*B");
        assert_eq!(YW, 16 * B, "YW must be 16*B");
        check_block(blk, B);
        let consts: Vec<(u32, u32, u32)> = (0..B).map(|k| component_constants(blk, k)).collect();
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
            rows: std::array::from_fn(|k| FullRow::new(blk, k)),
            rs: std::array::from_fn(|_| RoundSat::default()),
            places: std::array::from_fn(|_| Place::default()),
            ybus: Default::default(),
            accept: Default::default(),
            en: Default::default(),
            sk_data: Default::default(),
            sk_last: Default::default(),
            sk_valid: Default::default(),
            x_data: Default::default(),
            x_last: Default::default(),
            x_valid: Default::default(),
            u: std::array::from_fn(|_| Default::default()),
            u_last: Default::default(),
            u_valid: Default::default(),
            o_data: Default::default(),
            o_last: Default::default(),
            o_valid: Default::default(),
            c_shift: std::array::from_fn(|k| Constant::new((consts[k].1 as u64).into())),
            c_t: std::array::from_fn(|k| Constant::new((consts[k].2 as u64).into())),
            c_off: std::array::from_fn(|k| Constant::new(((16 * k) as u64).into())),
        }
    }
}

impl<const B: usize, const XW: usize, const YW: usize> Logic for TransformFull<B, XW, YW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sk_data, sk_last, sk_valid, x_data, x_last, x_valid, u_last, u_valid, o_data, o_last, o_valid
        );
        for k in 0..B {
            self.u[k].clock.next = self.clock.val();
            self.u[k].d.next = self.u[k].q.val();
        }
        self.s_axis_tready.next = !self.sk_valid.q.val() & !self.reset.val();
        self.accept.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        // The whole pipeline advances when the output register is free or taken.
        self.en.next = !self.o_valid.q.val() | self.m_axis_tready.val();
        // Skid register: catches the beat accepted while the pipeline stalls.
        if self.accept.val() & !self.en.val() {
            self.sk_data.d.next = self.s_axis_tdata.val();
            self.sk_last.d.next = self.s_axis_tlast.val();
            self.sk_valid.d.next = true;
        }
        // Stage 1: input register.
        if self.en.val() {
            if self.sk_valid.q.val() {
                self.x_data.d.next = self.sk_data.q.val();
                self.x_last.d.next = self.sk_last.q.val();
                self.x_valid.d.next = true;
                self.sk_valid.d.next = false;
            } else {
                self.x_data.d.next = self.s_axis_tdata.val();
                self.x_last.d.next = self.s_axis_tlast.val();
                self.x_valid.d.next = self.accept.val();
            }
        }
        // Stage 2: B*B multipliers and B adder chains.
        for k in 0..B {
            self.rows[k].x.next = self.x_data.q.val();
        }
        if self.en.val() {
            for k in 0..B {
                self.u[k].d.next = self.rows[k].acc.val();
            }
            self.u_last.d.next = self.x_last.q.val();
            self.u_valid.d.next = self.x_valid.q.val();
        }
        // Stage 3: rounding shift, saturation, output register.
        self.ybus.next = 0.into();
        for k in 0..B {
            self.rs[k].u.next = self.u[k].q.val();
            self.rs[k].shift.next = self.c_shift[k].val();
            self.rs[k].c_t.next = self.c_t[k].val();
            self.places[k].value.next = self.rs[k].y.val();
            self.places[k].offset.next = self.c_off[k].val();
            self.ybus.next = self.ybus.val() | self.places[k].placed.val();
        }
        if self.en.val() {
            self.o_data.d.next = self.ybus.val();
            self.o_last.d.next = self.u_last.q.val();
            self.o_valid.d.next = self.u_valid.q.val();
        }
        if self.reset.val() {
            self.sk_valid.d.next = false;
            self.x_valid.d.next = false;
            self.u_valid.d.next = false;
            self.o_valid.d.next = false;
        }
        self.m_axis_tdata.next = self.o_data.q.val();
        self.m_axis_tvalid.next = self.o_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.o_last.q.val();
    }
}

/// Time-multiplexed forward transform (`M = B` multipliers): one output
/// component per cycle, `B` cycles per beat. Const parameters: `B` (a power
/// of two, 2..=16), `XW = 9*B`, `YW = 16*B`, `KB = log2(B)` (checked by
/// [`TransformSerial::new`]); aliases [`TransformSerial4`],
/// [`TransformSerial8`], [`TransformSerial16`].
///
/// Row `k` of the matrix comes from `B` ROMs (ROM `i` holds column `i`)
/// addressed by the component counter; `c_init`, the shift and `c_t` come
/// from three more `B`-entry ROMs. Pipeline: skid register -> hold register
/// (the beat, held for `B` cycles, with the component counter) -> `u` (one
/// accumulator) -> output register, written one 16-bit lane per cycle and
/// made valid with the last component.
#[derive(LogicBlock)]
pub struct TransformSerial<const B: usize, const XW: usize, const YW: usize, const KB: usize> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Input codes, lane `i` in `[9i+8:9i]`.
    pub s_axis_tdata: Signal<In, Bits<XW>>,
    /// Input beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Unit takes a beat (registered: skid buffer empty, not in reset).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Passed through.
    pub s_axis_tlast: Signal<In, Bit>,
    /// Transform outputs, lane `k` in `[16k+15:16k]`.
    pub m_axis_tdata: Signal<Out, Bits<YW>>,
    /// Output valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Downstream takes the beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// `tlast` of the beat.
    pub m_axis_tlast: Signal<Out, Bit>,
    f_rom: [ROM<Bits<16>, KB>; B],
    init_rom: ROM<Bits<32>, KB>,
    shift_rom: ROM<Bits<8>, KB>,
    ct_rom: ROM<Bits<32>, KB>,
    rs: RoundSat,
    y_place: Place<YW, 16>,
    m_place: Place<YW, 16>,
    prod: [Signal<Local, Signed<32>>; B],
    p: [DFF<Bits<32>>; B],
    p_init: DFF<Bits<32>>,
    p_k: DFF<Bits<KB>>,
    p_valid: DFF<Bit>,
    p_last: DFF<Bit>,
    acc: Signal<Local, Bits<32>>,
    accept: Signal<Local, Bit>,
    en: Signal<Local, Bit>,
    load: Signal<Local, Bit>,
    last_k: Signal<Local, Bit>,
    sk_data: DFF<Bits<XW>>,
    sk_last: DFF<Bit>,
    sk_valid: DFF<Bit>,
    x_data: DFF<Bits<XW>>,
    x_last: DFF<Bit>,
    x_valid: DFF<Bit>,
    kc: DFF<Bits<KB>>,
    u: DFF<Bits<32>>,
    u_k: DFF<Bits<KB>>,
    u_last: DFF<Bit>,
    u_valid: DFF<Bit>,
    o_data: DFF<Bits<YW>>,
    o_last: DFF<Bit>,
    o_valid: DFF<Bit>,
    c_last_k: Constant<Bits<KB>>,
    c_ones16: Constant<Bits<16>>,
}

/// Time-multiplexed, B = 4 (4 multipliers, 4 cycles per beat).
pub type TransformSerial4 = TransformSerial<4, 36, 64, 2>;
/// Time-multiplexed, B = 8 (8 multipliers, 8 cycles per beat).
pub type TransformSerial8 = TransformSerial<8, 72, 128, 3>;
/// Time-multiplexed, B = 16 (16 multipliers, 16 cycles per beat).
pub type TransformSerial16 = TransformSerial<16, 144, 256, 4>;

impl<const B: usize, const XW: usize, const YW: usize, const KB: usize> TransformSerial<B, XW, YW, KB> {
    /// Builds the unit for one block policy (panics on inconsistent const
    /// parameters or a block of the wrong size).
    pub fn new(blk: &BlockPolicy) -> Self {
        assert!((2..=64).contains(&B) && B.is_power_of_two(), "B must be a power of two in 2..=64");
        assert_eq!(KB, B.trailing_zeros() as usize, "KB must be log2(B)");
        assert_eq!(XW, 9 * B, "XW must be 9*B");
        assert_eq!(YW, 16 * B, "YW must be 16*B");
        check_block(blk, B);
        let consts: Vec<(u32, u32, u32)> = (0..B).map(|k| component_constants(blk, k)).collect();
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
            f_rom: std::array::from_fn(|i| (0..B).map(|k| Bits::<16>::from((blk.forward[k][i] as u16) as u64)).into()),
            init_rom: consts.iter().map(|c| Bits::<32>::from(c.0 as u64)).into(),
            shift_rom: consts.iter().map(|c| Bits::<8>::from(c.1 as u64)).into(),
            ct_rom: consts.iter().map(|c| Bits::<32>::from(c.2 as u64)).into(),
            rs: RoundSat::default(),
            y_place: Place::default(),
            m_place: Place::default(),
            prod: std::array::from_fn(|_| Default::default()),
            p: std::array::from_fn(|_| Default::default()),
            p_init: Default::default(),
            p_k: Default::default(),
            p_valid: Default::default(),
            p_last: Default::default(),
            acc: Default::default(),
            accept: Default::default(),
            en: Default::default(),
            load: Default::default(),
            last_k: Default::default(),
            sk_data: Default::default(),
            sk_last: Default::default(),
            sk_valid: Default::default(),
            x_data: Default::default(),
            x_last: Default::default(),
            x_valid: Default::default(),
            kc: Default::default(),
            u: Default::default(),
            u_k: Default::default(),
            u_last: Default::default(),
            u_valid: Default::default(),
            o_data: Default::default(),
            o_last: Default::default(),
            o_valid: Default::default(),
            c_last_k: Constant::new(((B - 1) as u64).into()),
            c_ones16: Constant::new(0xFFFFu64.into()),
        }
    }
}

impl<const B: usize, const XW: usize, const YW: usize, const KB: usize> Logic for TransformSerial<B, XW, YW, KB> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, sk_data, sk_last, sk_valid, x_data, x_last, x_valid, kc, p_init, p_k, p_valid, p_last, u, u_k,
            u_last, u_valid, o_data, o_last, o_valid
        );
        for i in 0..B {
            self.p[i].clock.next = self.clock.val();
            self.p[i].d.next = self.p[i].q.val();
        }
        self.s_axis_tready.next = !self.sk_valid.q.val() & !self.reset.val();
        self.accept.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        self.en.next = !self.o_valid.q.val() | self.m_axis_tready.val();
        self.last_k.next = self.kc.q.val() == self.c_last_k.val();
        // The hold register takes the next beat when it is empty or when
        // its last component goes into the pipeline this cycle.
        self.load.next = self.en.val() & (!self.x_valid.q.val() | self.last_k.val());
        if self.load.val() {
            self.kc.d.next = 0.into();
            if self.sk_valid.q.val() {
                self.x_data.d.next = self.sk_data.q.val();
                self.x_last.d.next = self.sk_last.q.val();
                self.x_valid.d.next = true;
                self.sk_valid.d.next = false;
            } else {
                self.x_data.d.next = self.s_axis_tdata.val();
                self.x_last.d.next = self.s_axis_tlast.val();
                self.x_valid.d.next = self.accept.val();
            }
        } else if self.en.val() & self.x_valid.q.val() {
            self.kc.d.next = self.kc.q.val() + 1;
        }
        if self.accept.val() & !self.load.val() {
            self.sk_data.d.next = self.s_axis_tdata.val();
            self.sk_last.d.next = self.s_axis_tlast.val();
            self.sk_valid.d.next = true;
        }
        // Stage 2a: the B products F[kc][i] * x_i and c_init[kc], registered
        // (the LUT multipliers of FPGAs without hard ones are one stage).
        self.init_rom.address.next = self.kc.q.val();
        for i in 0..B {
            self.f_rom[i].address.next = self.kc.q.val();
            self.prod[i].next = signed_bit_cast_sext::<16, 9>(signed_cast(self.x_data.q.val().get_bits::<9>(9 * i)))
                * signed_cast(self.f_rom[i].data.val());
        }
        if self.en.val() {
            for i in 0..B {
                self.p[i].d.next = unsigned_cast(self.prod[i].val());
            }
            self.p_init.d.next = self.init_rom.data.val();
            self.p_k.d.next = self.kc.q.val();
            self.p_valid.d.next = self.x_valid.q.val();
            self.p_last.d.next = self.x_last.q.val() & self.last_k.val();
        }
        // Stage 2b: component p_k = c_init + sum of the products.
        self.acc.next = self.p_init.q.val();
        for i in 0..B {
            self.acc.next = self.acc.val() + self.p[i].q.val();
        }
        if self.en.val() {
            self.u.d.next = self.acc.val();
            self.u_k.d.next = self.p_k.q.val();
            self.u_valid.d.next = self.p_valid.q.val();
            self.u_last.d.next = self.p_last.q.val();
        }
        // Stage 3: rounding shift and saturation of component u_k, written
        // into lane u_k of the output register.
        self.shift_rom.address.next = self.u_k.q.val();
        self.ct_rom.address.next = self.u_k.q.val();
        self.rs.u.next = self.u.q.val();
        self.rs.shift.next = self.shift_rom.data.val();
        self.rs.c_t.next = self.ct_rom.data.val();
        self.y_place.value.next = self.rs.y.val();
        self.y_place.offset.next = bit_cast::<16, KB>(self.u_k.q.val()) << 4;
        self.m_place.value.next = self.c_ones16.val();
        self.m_place.offset.next = bit_cast::<16, KB>(self.u_k.q.val()) << 4;
        if self.en.val() {
            if self.u_valid.q.val() {
                self.o_data.d.next = (self.o_data.q.val() & !self.m_place.placed.val()) | self.y_place.placed.val();
            }
            self.o_valid.d.next = self.u_valid.q.val() & (self.u_k.q.val() == self.c_last_k.val());
            self.o_last.d.next = self.u_last.q.val();
        }
        if self.reset.val() {
            self.sk_valid.d.next = false;
            self.x_valid.d.next = false;
            self.kc.d.next = 0.into();
            self.p_valid.d.next = false;
            self.u_valid.d.next = false;
            self.o_valid.d.next = false;
        }
        self.m_axis_tdata.next = self.o_data.q.val();
        self.m_axis_tvalid.next = self.o_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.o_last.q.val();
    }
}
