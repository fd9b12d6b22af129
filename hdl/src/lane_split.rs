//! Lane width adapters between a block of `B` lanes and the packer /
//! unpacker, which have at most 8 lanes: [`LaneSplitter`] sends one wide
//! beat as `S = DI/DO` narrow sub-beats (compressor side), [`LaneGather`]
//! collects `S` narrow sub-beats into one wide beat (decompressor side).
//! Sub-beat `s` carries lanes `[s*L, (s+1)*L)` of the wide beat, so the
//! bit stream the packer writes is the same as a `B`-lane packer would
//! write: codes are packed LSB-first in lane order.
//!
//! With `S = 1` both are a plain register stage (full rate, one cycle of
//! latency); the top levels always use them, so every block size has the
//! same structure.
//!
//! # Ports (AXI4-Stream style, `tvalid` registered)
//!
//! | port | [`LaneSplitter`] | [`LaneGather`] |
//! |---|---|---|
//! | `s_axis_tdata` | `DI` bits, lane `i` in `[8i+7:8i]` | `DI` bits (one sub-beat) |
//! | `s_axis_tuser` | `UI` bits, lane `i` width in `[4i+3:4i]` | — |
//! | `s_axis_tlast` | copied to the last sub-beat | of the last sub-beat, copied to the wide beat |
//! | `m_axis_tdata` | `DO` bits (one sub-beat) | `DO` bits |
//! | `m_axis_tuser` | `UO` bits (the sub-beat's lane widths) | — |
//!
//! `s_axis_tready` of the splitter is high when it is empty or its last
//! sub-beat leaves this cycle; of the gatherer, when the sub-beat is not the
//! last one of a wide beat or the output register is empty or being taken.
//! Reset (synchronous, active high) empties both and restarts the sub-beat
//! count.

use rust_hdl::prelude::*;

/// Sub-beats per wide beat: `ceil(b / 8)` lanes of at most 8.
pub const fn sub_beats(b: usize) -> usize {
    b.div_ceil(8)
}

/// Lanes of the packer / unpacker for a block of `b` lanes: `min(b, 8)`.
pub const fn narrow_lanes(b: usize) -> usize {
    if b < 8 {
        b
    } else {
        8
    }
}

/// One wide beat (data `DI` bits, lane widths `UI` bits) out as `DI/DO`
/// sub-beats of `DO` / `UO` bits.
#[derive(LogicBlock)]
pub struct LaneSplitter<const DI: usize, const UI: usize, const DO: usize, const UO: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Wide beat.
    pub s_axis_tdata: Signal<In, Bits<DI>>,
    /// Lane widths of the wide beat.
    pub s_axis_tuser: Signal<In, Bits<UI>>,
    /// Wide beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Takes a wide beat.
    pub s_axis_tready: Signal<Out, Bit>,
    /// Last wide beat (of a tile).
    pub s_axis_tlast: Signal<In, Bit>,
    /// Sub-beat.
    pub m_axis_tdata: Signal<Out, Bits<DO>>,
    /// Lane widths of the sub-beat.
    pub m_axis_tuser: Signal<Out, Bits<UO>>,
    /// Sub-beat valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Sink takes the sub-beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// Last sub-beat of a wide beat that carried `tlast`.
    pub m_axis_tlast: Signal<Out, Bit>,
    data: DFF<Bits<DI>>,
    user: DFF<Bits<UI>>,
    last: DFF<Bit>,
    valid: DFF<Bit>,
    sub: DFF<Bits<8>>,
    final_sub: Signal<Local, Bit>,
    out_take: Signal<Local, Bit>,
    c_last_sub: Constant<Bits<8>>,
    c_dshift: Constant<Bits<16>>,
    c_ushift: Constant<Bits<16>>,
}

impl<const DI: usize, const UI: usize, const DO: usize, const UO: usize> LaneSplitter<DI, UI, DO, UO> {
    /// Builds the splitter; panics unless `DO` divides `DI`, `UO` divides
    /// `UI` with the same ratio and at most 255 sub-beats.
    pub fn new() -> Self {
        assert!(DO > 0 && DI % DO == 0 && UO > 0 && UI % UO == 0, "sub-beat widths must divide the beat");
        assert_eq!(DI / DO, UI / UO, "data and widths must split into the same number of sub-beats");
        assert!(DI / DO <= 255, "at most 255 sub-beats");
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
            data: Default::default(),
            user: Default::default(),
            last: Default::default(),
            valid: Default::default(),
            sub: Default::default(),
            final_sub: Default::default(),
            out_take: Default::default(),
            c_last_sub: Constant::new(((DI / DO - 1) as u64).into()),
            c_dshift: Constant::new((DO as u64).into()),
            c_ushift: Constant::new((UO as u64).into()),
        }
    }
}

impl<const DI: usize, const UI: usize, const DO: usize, const UO: usize> Default for LaneSplitter<DI, UI, DO, UO> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const DI: usize, const UI: usize, const DO: usize, const UO: usize> Logic for LaneSplitter<DI, UI, DO, UO> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, data, user, last, valid, sub);
        self.final_sub.next = self.sub.q.val() == self.c_last_sub.val();
        self.out_take.next = self.valid.q.val() & self.m_axis_tready.val();
        self.s_axis_tready.next = (!self.valid.q.val() | (self.out_take.val() & self.final_sub.val())) & !self.reset.val();
        if self.out_take.val() {
            if self.final_sub.val() {
                self.valid.d.next = false;
                self.sub.d.next = 0.into();
            } else {
                self.sub.d.next = self.sub.q.val() + 1;
                self.data.d.next = self.data.q.val() >> self.c_dshift.val();
                self.user.d.next = self.user.q.val() >> self.c_ushift.val();
            }
        }
        if self.s_axis_tvalid.val() & self.s_axis_tready.val() {
            self.data.d.next = self.s_axis_tdata.val();
            self.user.d.next = self.s_axis_tuser.val();
            self.last.d.next = self.s_axis_tlast.val();
            self.valid.d.next = true;
            self.sub.d.next = 0.into();
        }
        if self.reset.val() {
            self.valid.d.next = false;
            self.sub.d.next = 0.into();
        }
        self.m_axis_tdata.next = self.data.q.val().get_bits::<DO>(0);
        self.m_axis_tuser.next = self.user.q.val().get_bits::<UO>(0);
        self.m_axis_tvalid.next = self.valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.last.q.val() & self.final_sub.val();
    }
}

/// `DO/DI` sub-beats of `DI` bits in, one wide beat of `DO` bits out
/// (first sub-beat in the low bits).
#[derive(LogicBlock)]
pub struct LaneGather<const DI: usize, const DO: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Sub-beat.
    pub s_axis_tdata: Signal<In, Bits<DI>>,
    /// Sub-beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Takes a sub-beat.
    pub s_axis_tready: Signal<Out, Bit>,
    /// `tlast` (only that of a wide beat's last sub-beat is kept).
    pub s_axis_tlast: Signal<In, Bit>,
    /// Wide beat.
    pub m_axis_tdata: Signal<Out, Bits<DO>>,
    /// Wide beat valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Sink takes the wide beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// `tlast` of the wide beat's last sub-beat.
    pub m_axis_tlast: Signal<Out, Bit>,
    acc: DFF<Bits<DO>>,
    sub: DFF<Bits<8>>,
    out_data: DFF<Bits<DO>>,
    out_valid: DFF<Bit>,
    out_last: DFF<Bit>,
    combined: Signal<Local, Bits<DO>>,
    final_sub: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    c_last_sub: Constant<Bits<8>>,
    c_dshift: Constant<Bits<16>>,
    c_top: Constant<Bits<16>>,
}

impl<const DI: usize, const DO: usize> LaneGather<DI, DO> {
    /// Builds the gatherer; panics unless `DI` divides `DO` (at most 255
    /// sub-beats).
    pub fn new() -> Self {
        assert!(DI > 0 && DO % DI == 0 && DO / DI <= 255, "sub-beat width must divide the beat");
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
            acc: Default::default(),
            sub: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_last: Default::default(),
            combined: Default::default(),
            final_sub: Default::default(),
            take: Default::default(),
            c_last_sub: Constant::new(((DO / DI - 1) as u64).into()),
            c_dshift: Constant::new((DI as u64).into()),
            c_top: Constant::new(((DO - DI) as u64).into()),
        }
    }
}

impl<const DI: usize, const DO: usize> Default for LaneGather<DI, DO> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const DI: usize, const DO: usize> Logic for LaneGather<DI, DO> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc, sub, out_data, out_valid, out_last);
        self.final_sub.next = self.sub.q.val() == self.c_last_sub.val();
        self.combined.next =
            (self.acc.q.val() >> self.c_dshift.val()) | (bit_cast::<DO, DI>(self.s_axis_tdata.val()) << self.c_top.val());
        self.s_axis_tready.next =
            (!self.final_sub.val() | !self.out_valid.q.val() | self.m_axis_tready.val()) & !self.reset.val();
        self.take.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        if self.out_valid.q.val() & self.m_axis_tready.val() {
            self.out_valid.d.next = false;
        }
        if self.take.val() {
            if self.final_sub.val() {
                self.out_data.d.next = self.combined.val();
                self.out_last.d.next = self.s_axis_tlast.val();
                self.out_valid.d.next = true;
                self.sub.d.next = 0.into();
            } else {
                self.acc.d.next = self.combined.val();
                self.sub.d.next = self.sub.q.val() + 1;
            }
        }
        if self.reset.val() {
            self.out_valid.d.next = false;
            self.sub.d.next = 0.into();
        }
        self.m_axis_tdata.next = self.out_data.q.val();
        self.m_axis_tvalid.next = self.out_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.out_last.q.val();
    }
}
