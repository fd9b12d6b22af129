//! Variable bit-width packer: `LANES` codes per beat, each with its own width
//! 0..=8, appended LSB-first into `W`-bit words (the hardware counterpart of
//! [`actcomp_golden::packer::pack_beats`]).
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` | in | 1 | rising-edge clock |
//! | `reset` | in | 1 | synchronous, active high: clears accumulator and output register; while high `s_axis_tready` and `m_axis_tvalid` are low |
//! | `s_axis_tdata` | in | `8*LANES` | lane `i` code (two's complement) in bits `[8i+7:8i]` |
//! | `s_axis_tuser` | in | `4*LANES` | lane `i` width in bits `[4i+3:4i]`; 0..=8, values 9..=15 are treated as 8 |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | input handshake |
//! | `s_axis_tlast` | in | 1 | beat closes a tile: pad with zeros to the next word boundary |
//! | `m_axis_tdata` | out | `W` | packed word |
//! | `m_axis_tvalid` / `m_axis_tready` | out / in | 1 | output handshake |
//! | `m_axis_tlast` | out | 1 | this word is the final word of a (non-empty) tile |
//!
//! A transfer happens on a rising edge where `tvalid && tready`.
//! `m_axis_tvalid` is a register output (gated by `reset`); it never depends on
//! `m_axis_tready`. `s_axis_tready` depends only on registered state and
//! `reset` (not on `m_axis_tready`, `s_axis_tvalid` or the beat).
//!
//! # Micro-architecture
//!
//! Two pipeline stages. Stage 1 assembles the beat into a register
//! (`f_beat`, its length `f_len`, `f_last`, `f_valid`); stage 2 appends the
//! registered beat to an accumulator `acc` of `A = W + roundup(8*LANES, W)`
//! bits with its fill count, in front of a one-word output register. The
//! split keeps the lane prefix sum out of the cycle that updates `fill`
//! (the packer's critical path on the iCE40).
//!
//! 1. Stage 1: each lane ([`PackLane`]) clamps its width, masks its code to
//!    that width and shifts it to its offset inside the beat. Offsets are a
//!    ripple prefix sum over an array of local signals (`lane_off[i] =
//!    lane_off[i-1] + len[i-1]`), which replaces the `let` that `#[hdl_gen]`
//!    rejects. The OR of the lane fields (`8*LANES` bits) and its length are
//!    registered.
//! 2. Stage 2: the registered beat is widened to `A` bits, shifted by `fill`
//!    (a barrel shifter) and ORed into `acc`. Bits of `acc` above `fill` are
//!    always zero.
//! 3. On `tlast` the fill count is rounded up to a multiple of `W` (this *is*
//!    the zero padding), and a tile-end mark is set for that word in `lmask`
//!    (one bit per word held in `acc`). An empty tile (no bits since the last
//!    tile end) produces no word and no mark, exactly like the golden model.
//! 4. The low word leaves `acc` into the output register when the output
//!    register is free and either more bits follow it (`fill > W`) or it is
//!    marked as a tile end. A word that is exactly full but not yet known to
//!    be the end of its tile is held until the next beat decides, so
//!    `m_axis_tlast` is exact and independent of stalls.
//!
//! Stage 2 takes the registered beat when `fill <= A - 8*LANES` (a beat,
//! even a fully padded one, always fits); `s_axis_tready` is high when the
//! stage-1 register is empty or taken this cycle, so it depends only on
//! registered state and `reset`. With `8*LANES <= W` and the output always
//! ready, `fill` never exceeds `W` after an edge, so a beat is accepted every
//! cycle (including across tile ends). With `8*LANES > W` (e.g. 8 lanes into
//! 32-bit words) one beat can yield two words and the input is stalled as
//! needed.
//!
//! Latency ([`PACKER_LATENCY`] = 2): a word is in the output register two
//! cycles after the input beat that completes it (or, for a word that is
//! exactly full without a tile end, two cycles after the next beat). All
//! parameter-dependent numbers are `Constant`s (Verilog `localparam`s) or
//! loop bounds, never const-generic arithmetic inside expressions.

use rust_hdl::prelude::*;

/// Cycles from the input transfer of the beat that completes a word to that
/// word being valid on `m_axis_*` (stage-1 register, then the accumulator
/// and output register).
pub const PACKER_LATENCY: u64 = 2;

/// One lane of the packer: clamps the width to 0..=8, masks the code to that
/// width, and places it at `offset` inside a `DW`-bit beat.
#[derive(LogicBlock)]
pub struct PackLane<const DW: usize> {
    /// Two's complement code of this lane.
    pub code: Signal<In, Bits<8>>,
    /// Field width 0..=8 (9..=15 are treated as 8).
    pub width: Signal<In, Bits<4>>,
    /// Bit offset of the field inside the beat (sum of the widths of the lower lanes).
    pub offset: Signal<In, Bits<8>>,
    /// Clamped field width, widened to 8 bits for the prefix sum.
    pub len: Signal<Out, Bits<8>>,
    /// The masked code shifted to `offset`, zero elsewhere.
    pub placed: Signal<Out, Bits<DW>>,
    clamped: Signal<Local, Bits<4>>,
    masked: Signal<Local, Bits<8>>,
    ones: Constant<Bits<8>>,
}

impl<const DW: usize> Default for PackLane<DW> {
    fn default() -> Self {
        Self {
            code: Default::default(),
            width: Default::default(),
            offset: Default::default(),
            len: Default::default(),
            placed: Default::default(),
            clamped: Default::default(),
            masked: Default::default(),
            ones: Constant::new(0xFF.into()),
        }
    }
}

impl<const DW: usize> Logic for PackLane<DW> {
    #[hdl_gen]
    fn update(&mut self) {
        self.clamped.next = self.width.val();
        if self.width.val() > 8 {
            self.clamped.next = 8.into();
        }
        self.len.next = bit_cast::<8, 4>(self.clamped.val());
        self.masked.next = self.code.val() & (self.ones.val() >> (8 - self.clamped.val()));
        self.placed.next = bit_cast::<DW, 8>(self.masked.val()) << self.offset.val();
    }
}

/// The variable bit-width packer (see the module documentation).
///
/// Const parameters: `LANES` lanes, `DW = 8*LANES` (input data bits),
/// `UW = 4*LANES` (input width bits), `W` output word bits (32 or 64) and
/// `A = W + roundup(DW, W)` accumulator bits. Stable Rust cannot derive
/// `DW`, `UW` and `A` from `LANES` and `W`, so they are explicit and checked
/// by [`VarWidthPacker::new`]; use the aliases [`Packer4x32`],
/// [`Packer4x64`], [`Packer8x32`], [`Packer8x64`].
#[derive(LogicBlock)]
pub struct VarWidthPacker<
    const LANES: usize,
    const DW: usize,
    const UW: usize,
    const W: usize,
    const A: usize,
> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Input codes, lane `i` in bits `[8i+7:8i]`.
    pub s_axis_tdata: Signal<In, Bits<DW>>,
    /// Input widths, lane `i` in bits `[4i+3:4i]`.
    pub s_axis_tuser: Signal<In, Bits<UW>>,
    /// Input beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Packer can take a beat (depends on registered state and `reset` only).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Input beat closes a tile (pad to the next word boundary).
    pub s_axis_tlast: Signal<In, Bit>,
    /// Output word.
    pub m_axis_tdata: Signal<Out, Bits<W>>,
    /// Output word valid (registered).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Downstream can take a word.
    pub m_axis_tready: Signal<In, Bit>,
    /// Output word is the final word of a tile.
    pub m_axis_tlast: Signal<Out, Bit>,
    lanes: [PackLane<DW>; LANES],
    lane_off: [Signal<Local, Bits<8>>; LANES],
    beat: Signal<Local, Bits<DW>>,
    beat_len: Signal<Local, Bits<8>>,
    accept: Signal<Local, Bit>,
    back_ready: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    placed: Signal<Local, Bits<A>>,
    raw: Signal<Local, Bits<8>>,
    raw_dn: Signal<Local, Bits<8>>,
    rup: Signal<Local, Bits<8>>,
    rup_dn: Signal<Local, Bits<8>>,
    tile_end: Signal<Local, Bit>,
    big: Signal<Local, Bit>,
    cfill_dn: Signal<Local, Bits<8>>,
    cfill: Signal<Local, Bits<8>>,
    comb: Signal<Local, Bits<A>>,
    cmask: Signal<Local, Bits<4>>,
    out_free: Signal<Local, Bit>,
    f_beat: DFF<Bits<DW>>,
    f_len: DFF<Bits<8>>,
    f_len_dn: DFF<Bits<8>>,
    f_len_up: DFF<Bits<8>>,
    f_len_up_dn: DFF<Bits<8>>,
    f_nz: DFF<Bit>,
    f_last: DFF<Bit>,
    f_valid: DFF<Bit>,
    acc: DFF<Bits<A>>,
    fill: DFF<Bits<8>>,
    lmask: DFF<Bits<4>>,
    out_data: DFF<Bits<W>>,
    out_valid: DFF<Bit>,
    out_last: DFF<Bit>,
    c_word: Constant<Bits<8>>,
    c_word_m1: Constant<Bits<8>>,
    c_word_hi: Constant<Bits<8>>,
    c_word_log2: Constant<Bits<8>>,
    c_ready_max: Constant<Bits<8>>,
    c_one: Constant<Bits<4>>,
    c_one8: Constant<Bits<8>>,
}

/// 4 lanes into 32-bit words (full rate).
pub type Packer4x32 = VarWidthPacker<4, 32, 16, 32, 64>;
/// 4 lanes into 64-bit words (full rate).
pub type Packer4x64 = VarWidthPacker<4, 32, 16, 64, 128>;
/// 8 lanes into 32-bit words (a beat can yield two words: input stalls).
pub type Packer8x32 = VarWidthPacker<8, 64, 32, 32, 96>;
/// 8 lanes into 64-bit words (full rate).
pub type Packer8x64 = VarWidthPacker<8, 64, 32, 64, 128>;

/// Accumulator width for `lanes` lanes and `word_bits`-bit words:
/// `W + roundup(8*lanes, W)`.
pub const fn packer_acc_bits(lanes: usize, word_bits: usize) -> usize {
    word_bits + (8 * lanes).div_ceil(word_bits) * word_bits
}

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize>
    VarWidthPacker<LANES, DW, UW, W, A>
{
    /// Builds the packer; panics if the const parameters are inconsistent
    /// (`DW != 8*LANES`, `UW != 4*LANES`, `W` not 32/64, `A` wrong) or
    /// `LANES` is 0 or above 8.
    pub fn new() -> Self {
        assert!((1..=8).contains(&LANES), "LANES must be 1..=8");
        assert_eq!(DW, 8 * LANES, "DW must be 8*LANES");
        assert_eq!(UW, 4 * LANES, "UW must be 4*LANES");
        assert!(W == 32 || W == 64, "W must be 32 or 64");
        assert_eq!(A, packer_acc_bits(LANES, W), "A must be W + roundup(8*LANES, W)");
        assert!(A / W <= 4 && A <= 128, "accumulator too large for the 8-bit fill / 4-bit mark registers");
        let c8 = |v: usize| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tuser: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tlast: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tlast: Default::default(),
            lanes: std::array::from_fn(|_| PackLane::default()),
            lane_off: std::array::from_fn(|_| Default::default()),
            beat: Default::default(),
            beat_len: Default::default(),
            accept: Default::default(),
            back_ready: Default::default(),
            take: Default::default(),
            placed: Default::default(),
            raw: Default::default(),
            raw_dn: Default::default(),
            rup: Default::default(),
            rup_dn: Default::default(),
            tile_end: Default::default(),
            big: Default::default(),
            cfill_dn: Default::default(),
            cfill: Default::default(),
            comb: Default::default(),
            cmask: Default::default(),
            out_free: Default::default(),
            f_beat: Default::default(),
            f_len: Default::default(),
            f_len_dn: Default::default(),
            f_len_up: Default::default(),
            f_len_up_dn: Default::default(),
            f_nz: Default::default(),
            f_last: Default::default(),
            f_valid: Default::default(),
            acc: Default::default(),
            fill: Default::default(),
            lmask: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_last: Default::default(),
            c_word: c8(W),
            c_word_m1: c8(W - 1),
            c_word_hi: c8(0xFF & !(W - 1)),
            c_word_log2: c8(W.trailing_zeros() as usize),
            c_ready_max: c8(A - DW),
            c_one: Constant::new(1u64.into()),
            c_one8: c8(1),
        }
    }
}

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize> Default
    for VarWidthPacker<LANES, DW, UW, W, A>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize> Logic
    for VarWidthPacker<LANES, DW, UW, W, A>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, f_beat, f_len, f_len_dn, f_len_up, f_len_up_dn, f_nz, f_last, f_valid, acc, fill, lmask, out_data, out_valid, out_last);
        // Stage 2 takes the registered beat when the accumulator has room
        // for it (registered state only).
        self.back_ready.next = self.fill.q.val() <= self.c_ready_max.val();
        self.take.next = self.f_valid.q.val() & self.back_ready.val();
        // Input side: the stage-1 register is free or is emptied this cycle;
        // ready from registered state and reset only.
        self.s_axis_tready.next = (!self.f_valid.q.val() | self.back_ready.val()) & !self.reset.val();
        self.accept.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        // Stage 1, lanes: prefix sum of widths gives each lane's offset in the beat.
        for i in 0..LANES {
            self.lanes[i].code.next = self.s_axis_tdata.val().get_bits::<8>(8 * i);
            self.lanes[i].width.next = self.s_axis_tuser.val().get_bits::<4>(4 * i);
        }
        self.lane_off[0].next = 0.into();
        for i in 1..LANES {
            self.lane_off[i].next = self.lane_off[i - 1].val() + self.lanes[i - 1].len.val();
        }
        self.beat.next = 0.into();
        self.beat_len.next = 0.into();
        for i in 0..LANES {
            self.lanes[i].offset.next = self.lane_off[i].val();
            self.beat.next = self.beat.val() | self.lanes[i].placed.val();
            self.beat_len.next = self.lane_off[i].val() + self.lanes[i].len.val();
        }
        if self.take.val() {
            self.f_valid.d.next = false;
        }
        if self.accept.val() {
            self.f_beat.d.next = self.beat.val();
            self.f_len.d.next = self.beat_len.val();
            // Offsets for stage 2's parallel sums (modulo 256): the length
            // minus a word, plus W - 1 (round-up), and plus W - 1 minus a word.
            self.f_len_dn.d.next = self.beat_len.val() - self.c_word.val();
            self.f_len_up.d.next = self.beat_len.val() + self.c_word_m1.val();
            self.f_len_up_dn.d.next = self.beat_len.val() - self.c_one8.val();
            self.f_nz.d.next = self.beat_len.val() != 0;
            self.f_last.d.next = self.s_axis_tlast.val();
            self.f_valid.d.next = true;
        }
        // Stage 2: append the registered beat at `fill` (barrel shift into
        // the accumulator).
        // The new fill with and without the tile-end round-up, each also
        // minus one word (the value after a word leaves), all computed in
        // parallel from `fill` so that only one carry chain and a compare
        // sit in front of the word decision.
        self.placed.next = 0.into();
        self.raw.next = self.fill.q.val();
        self.raw_dn.next = self.fill.q.val() - self.c_word.val();
        if self.take.val() {
            self.placed.next = bit_cast::<A, DW>(self.f_beat.q.val()) << self.fill.q.val();
            self.raw.next = self.fill.q.val() + self.f_len.q.val();
            self.raw_dn.next = self.fill.q.val() + self.f_len_dn.q.val();
        }
        self.rup.next = (self.fill.q.val() + self.f_len_up.q.val()) & self.c_word_hi.val();
        self.rup_dn.next = (self.fill.q.val() + self.f_len_up_dn.q.val()) & self.c_word_hi.val();
        self.comb.next = self.acc.q.val() | self.placed.val();
        // Tile end (a `tlast` beat after at least one bit): round the fill
        // up to a word boundary and mark that word.
        self.tile_end.next =
            self.take.val() & self.f_last.q.val() & ((self.fill.q.val() != 0) | self.f_nz.q.val());
        self.cfill.next = self.raw.val();
        self.cfill_dn.next = self.raw_dn.val();
        self.big.next = self.raw.val() > self.c_word.val();
        self.cmask.next = self.lmask.q.val();
        if self.tile_end.val() {
            self.cfill.next = self.rup.val();
            self.cfill_dn.next = self.rup_dn.val();
            self.big.next = self.rup.val() > self.c_word.val();
            self.cmask.next = self.lmask.q.val()
                | (self.c_one.val() << ((self.rup.val() >> self.c_word_log2.val()) - 1));
        }
        // Output side: move the low word out when it is final.
        self.out_free.next = !self.out_valid.q.val() | self.m_axis_tready.val();
        if self.out_valid.q.val() & self.m_axis_tready.val() {
            self.out_valid.d.next = false;
        }
        self.acc.d.next = self.comb.val();
        self.fill.d.next = self.cfill.val();
        self.lmask.d.next = self.cmask.val();
        if self.out_free.val() & (self.big.val() | self.cmask.val().get_bit(0)) {
            self.out_data.d.next = self.comb.val().get_bits::<W>(0);
            self.out_last.d.next = self.cmask.val().get_bit(0);
            self.out_valid.d.next = true;
            self.acc.d.next = self.comb.val() >> self.c_word.val();
            self.fill.d.next = self.cfill_dn.val();
            self.lmask.d.next = self.cmask.val() >> 1;
        }
        if self.reset.val() {
            self.f_valid.d.next = false;
            self.acc.d.next = 0.into();
            self.fill.d.next = 0.into();
            self.lmask.d.next = 0.into();
            self.out_valid.d.next = false;
            self.out_last.d.next = false;
        }
        self.m_axis_tdata.next = self.out_data.q.val();
        self.m_axis_tvalid.next = self.out_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.out_last.q.val();
    }
}
