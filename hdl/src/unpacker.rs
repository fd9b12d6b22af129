//! Variable bit-width unpacker: payload words in, `LANES` sign-extended codes
//! per beat out (the hardware counterpart of
//! [`actcomp_golden::unpacker::unpack_beats`], the inverse of the packer).
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` | in | 1 | rising-edge clock |
//! | `reset` | in | 1 | synchronous, active high: empties the bit accumulator and the output buffer; while high all `tready`/`tvalid` outputs are low |
//! | `s_axis_tdata` | in | `W` | payload word |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | word handshake |
//! | `s_widths_tdata` | in | `4*LANES` | lane `i` width of the next beat in bits `[4i+3:4i]`; 0..=8, 9..=15 act as 8 |
//! | `s_widths_tlast` | in | 1 | the beat ends a tile: skip the padding to the next word boundary |
//! | `s_widths_tvalid` / `s_widths_tready` | in / out | 1 | widths handshake; one widths transfer = one output beat |
//! | `m_axis_tdata` | out | `8*LANES` | lane `i` code, sign-extended from its width (width 0: 0), in `[8i+7:8i]` |
//! | `m_axis_tlast` | out | 1 | copy of `s_widths_tlast` of the beat |
//! | `m_axis_tvalid` / `m_axis_tready` | out / in | 1 | output handshake |
//!
//! `s_axis_tready` depends on registered state and `reset` only.
//! `s_widths_tready` depends on registered state, `reset`, the widths beat
//! itself and `s_axis_tvalid` (a beat can use the word arriving in the same
//! cycle), never on `m_axis_tready` (the output has a skid register).
//! `m_axis_tvalid` is a register output.
//!
//! # Micro-architecture
//!
//! A bit accumulator `acc` of `A = W + 8*LANES` bits holds the unread bits
//! of the stream, LSB first, and `fill` counts them. Each cycle:
//!
//! 1. a word is accepted when `fill <= A - W`; it is appended at `fill`
//!    (barrel shift), giving `comb` with `avail` bits;
//! 2. the widths beat gives per-lane offsets by a ripple prefix sum over an
//!    array of local signals (as in the packer); each [`UnpackLane`] shifts
//!    `comb` right by its offset, masks the low `width` bits and
//!    sign-extends them to 8 bits;
//! 3. the beat fires when `avail >= Σ widths` and the output buffer has
//!    room; `acc` then drops the used bits, and on `tlast` also the rest of
//!    the current word (`fill` rounded down to a multiple of `W`: the bits
//!    of `acc` are always the tail of the current word followed by whole
//!    words, so `fill mod W` is exactly the padding still to skip).
//!
//! Full rate: with `8*LANES <= W`, either `fill <= A - W = 8*LANES` and a word
//! arrives in the same cycle (`avail >= W >= 8*LANES`), or `fill > 8*LANES`;
//! either way every beat, including a tile end, fires in one cycle when the
//! words keep up. Padding is skipped without checking that it is zero.
//!
//! Output: a register plus a skid register (2 beats); `s_widths_tready` is
//! low only while the skid register is full.
//!
//! Latency: a beat is on `m_axis_*` one cycle after its widths transfer.

use rust_hdl::prelude::*;

/// One output lane: extracts `width` bits at `offset` of the accumulator
/// window, sign-extends them to 8 bits and places them at bit `8*lane` of
/// the `DW`-bit output beat.
#[derive(LogicBlock)]
pub struct UnpackLane<const A: usize, const DW: usize> {
    /// The accumulator contents (including a word arriving this cycle).
    pub window: Signal<In, Bits<A>>,
    /// Bit offset of this lane's field in `window`.
    pub offset: Signal<In, Bits<8>>,
    /// Field width 0..=8 (9..=15 are treated as 8).
    pub width: Signal<In, Bits<4>>,
    /// Clamped width, widened to 8 bits for the prefix sum.
    pub len: Signal<Out, Bits<8>>,
    /// The sign-extended code.
    pub code: Signal<Out, Bits<8>>,
    /// `code` placed at bit `8*lane` of the output beat, zero elsewhere.
    pub placed: Signal<Out, Bits<DW>>,
    clamped: Signal<Local, Bits<4>>,
    shifted: Signal<Local, Bits<A>>,
    field: Signal<Local, Bits<8>>,
    mask: Signal<Local, Bits<8>>,
    sign: Signal<Local, Bit>,
    c_ones: Constant<Bits<8>>,
    c_pos: Constant<Bits<8>>,
}

impl<const A: usize, const DW: usize> UnpackLane<A, DW> {
    /// The lane with index `lane` (output bits `[8*lane+7 : 8*lane]`).
    pub fn new(lane: usize) -> Self {
        assert!(8 * lane + 8 <= DW, "lane {lane} outside a {DW}-bit beat");
        Self {
            window: Default::default(),
            offset: Default::default(),
            width: Default::default(),
            len: Default::default(),
            code: Default::default(),
            placed: Default::default(),
            clamped: Default::default(),
            shifted: Default::default(),
            field: Default::default(),
            mask: Default::default(),
            sign: Default::default(),
            c_ones: Constant::new(0xFFu64.into()),
            c_pos: Constant::new(((8 * lane) as u64).into()),
        }
    }
}

impl<const A: usize, const DW: usize> Logic for UnpackLane<A, DW> {
    #[hdl_gen]
    fn update(&mut self) {
        self.clamped.next = self.width.val();
        if self.width.val() > 8 {
            self.clamped.next = 8.into();
        }
        self.len.next = bit_cast::<8, 4>(self.clamped.val());
        self.shifted.next = self.window.val() >> self.offset.val();
        self.field.next = self.shifted.val().get_bits::<8>(0);
        // mask = low `clamped` bits; its top bit selects the sign bit
        self.mask.next = !(self.c_ones.val() << self.clamped.val());
        self.sign.next = (self.field.val() & (self.mask.val() ^ (self.mask.val() >> 1))).any();
        self.code.next = self.field.val() & self.mask.val();
        if self.sign.val() {
            self.code.next = (self.field.val() & self.mask.val()) | !self.mask.val();
        }
        self.placed.next = bit_cast::<DW, 8>(self.code.val()) << self.c_pos.val();
    }
}

/// The unpacker. `DW = 8*LANES`, `UW = 4*LANES`, `A = W + 8*LANES` (stable
/// Rust cannot compute them from `LANES` and `W`; [`VarWidthUnpacker::new`]
/// checks them).
#[derive(LogicBlock)]
pub struct VarWidthUnpacker<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Payload word.
    pub s_axis_tdata: Signal<In, Bits<W>>,
    /// Payload word valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Unpacker accepts a word (registered state only).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Lane widths of the next beat (4 bits per lane).
    pub s_widths_tdata: Signal<In, Bits<UW>>,
    /// The beat ends a tile (skip padding after it).
    pub s_widths_tlast: Signal<In, Bit>,
    /// Widths beat valid.
    pub s_widths_tvalid: Signal<In, Bit>,
    /// The beat is produced this cycle.
    pub s_widths_tready: Signal<Out, Bit>,
    /// Sign-extended codes, 8 bits per lane.
    pub m_axis_tdata: Signal<Out, Bits<DW>>,
    /// Output valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Sink accepts the beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// Beat ends a tile.
    pub m_axis_tlast: Signal<Out, Bit>,
    /// Per-lane extraction.
    pub lanes: [UnpackLane<A, DW>; LANES],
    lane_off: [Signal<Local, Bits<8>>; LANES],
    word_in: Signal<Local, Bit>,
    placed: Signal<Local, Bits<A>>,
    comb: Signal<Local, Bits<A>>,
    avail: Signal<Local, Bits<8>>,
    beat_len: Signal<Local, Bits<8>>,
    rest: Signal<Local, Bits<8>>,
    nfill: Signal<Local, Bits<8>>,
    codes: Signal<Local, Bits<DW>>,
    fire: Signal<Local, Bit>,
    out_take: Signal<Local, Bit>,
    acc: DFF<Bits<A>>,
    fill: DFF<Bits<8>>,
    out_data: DFF<Bits<DW>>,
    out_last: DFF<Bit>,
    out_valid: DFF<Bit>,
    skid_data: DFF<Bits<DW>>,
    skid_last: DFF<Bit>,
    skid_valid: DFF<Bit>,
    c_word: Constant<Bits<8>>,
    c_word_hi: Constant<Bits<8>>,
    c_ready_max: Constant<Bits<8>>,
}

/// 4 lanes from 32-bit words (full rate).
pub type Unpacker4x32 = VarWidthUnpacker<4, 32, 16, 32, 64>;
/// 4 lanes from 64-bit words (full rate).
pub type Unpacker4x64 = VarWidthUnpacker<4, 32, 16, 64, 96>;
/// 8 lanes from 32-bit words (a beat can need two words: not full rate).
pub type Unpacker8x32 = VarWidthUnpacker<8, 64, 32, 32, 96>;
/// 8 lanes from 64-bit words (full rate).
pub type Unpacker8x64 = VarWidthUnpacker<8, 64, 32, 64, 128>;

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize>
    VarWidthUnpacker<LANES, DW, UW, W, A>
{
    /// Builds the unpacker; panics on inconsistent parameters (`DW != 8*LANES`,
    /// `UW != 4*LANES`, `W` not 32/64, `A != W + 8*LANES`, `LANES` not 1..=8).
    pub fn new() -> Self {
        assert!((1..=8).contains(&LANES), "LANES must be 1..=8");
        assert_eq!(DW, 8 * LANES, "DW must be 8*LANES");
        assert_eq!(UW, 4 * LANES, "UW must be 4*LANES");
        assert!(W == 32 || W == 64, "W must be 32 or 64");
        assert_eq!(A, W + DW, "A must be W + 8*LANES");
        let c8 = |v: usize| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            reset: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_widths_tdata: Default::default(),
            s_widths_tlast: Default::default(),
            s_widths_tvalid: Default::default(),
            s_widths_tready: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tlast: Default::default(),
            lanes: std::array::from_fn(UnpackLane::new),
            lane_off: std::array::from_fn(|_| Default::default()),
            word_in: Default::default(),
            placed: Default::default(),
            comb: Default::default(),
            avail: Default::default(),
            beat_len: Default::default(),
            rest: Default::default(),
            nfill: Default::default(),
            codes: Default::default(),
            fire: Default::default(),
            out_take: Default::default(),
            acc: Default::default(),
            fill: Default::default(),
            out_data: Default::default(),
            out_last: Default::default(),
            out_valid: Default::default(),
            skid_data: Default::default(),
            skid_last: Default::default(),
            skid_valid: Default::default(),
            c_word: c8(W),
            c_word_hi: c8(0xFF & !(W - 1)),
            c_ready_max: c8(A - W),
        }
    }
}

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize> Default
    for VarWidthUnpacker<LANES, DW, UW, W, A>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const LANES: usize, const DW: usize, const UW: usize, const W: usize, const A: usize> Logic
    for VarWidthUnpacker<LANES, DW, UW, W, A>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc, fill, out_data, out_last, out_valid, skid_data, skid_last, skid_valid);
        // Word side: ready from registered state only; append at `fill`.
        self.s_axis_tready.next = (self.fill.q.val() <= self.c_ready_max.val()) & !self.reset.val();
        self.word_in.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        self.placed.next = 0.into();
        self.avail.next = self.fill.q.val();
        if self.word_in.val() {
            self.placed.next = bit_cast::<A, W>(self.s_axis_tdata.val()) << self.fill.q.val();
            self.avail.next = self.fill.q.val() + self.c_word.val();
        }
        self.comb.next = self.acc.q.val() | self.placed.val();
        // Lanes: prefix sum of the widths gives each lane's offset.
        for i in 0..LANES {
            self.lanes[i].window.next = self.comb.val();
            self.lanes[i].width.next = self.s_widths_tdata.val().get_bits::<4>(4 * i);
        }
        self.lane_off[0].next = 0.into();
        for i in 1..LANES {
            self.lane_off[i].next = self.lane_off[i - 1].val() + self.lanes[i - 1].len.val();
        }
        self.codes.next = 0.into();
        self.beat_len.next = 0.into();
        for i in 0..LANES {
            self.lanes[i].offset.next = self.lane_off[i].val();
            self.codes.next = self.codes.val() | self.lanes[i].placed.val();
            self.beat_len.next = self.lane_off[i].val() + self.lanes[i].len.val();
        }
        // A beat fires when its bits are there and the output buffer has room.
        self.s_widths_tready.next =
            !self.skid_valid.q.val() & !self.reset.val() & (self.avail.val() >= self.beat_len.val());
        self.fire.next = self.s_widths_tvalid.val() & self.s_widths_tready.val();
        // Consume the beat's bits; on a tile end also the rest of the word.
        self.rest.next = self.avail.val() - self.beat_len.val();
        self.nfill.next = self.avail.val();
        if self.fire.val() {
            self.nfill.next = self.rest.val();
            if self.s_widths_tlast.val() {
                self.nfill.next = self.rest.val() & self.c_word_hi.val();
            }
        }
        self.acc.d.next = self.comb.val() >> (self.avail.val() - self.nfill.val());
        self.fill.d.next = self.nfill.val();
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
        if self.fire.val() {
            if !self.out_valid.q.val() | self.m_axis_tready.val() {
                self.out_data.d.next = self.codes.val();
                self.out_last.d.next = self.s_widths_tlast.val();
                self.out_valid.d.next = true;
            } else {
                self.skid_data.d.next = self.codes.val();
                self.skid_last.d.next = self.s_widths_tlast.val();
                self.skid_valid.d.next = true;
            }
        }
        if self.reset.val() {
            self.acc.d.next = 0.into();
            self.fill.d.next = 0.into();
            self.out_valid.d.next = false;
            self.out_last.d.next = false;
            self.skid_valid.d.next = false;
        }
        self.m_axis_tdata.next = self.out_data.q.val();
        self.m_axis_tvalid.next = self.out_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.out_last.q.val();
    }
}
