//! Dequantizer: `LANES` codes with a group index per lane in, `LANES`
//! reconstructed 16-bit components out (the hardware counterpart of
//! [`actcomp_golden::quantizer::GroupQuantizer::dequantize`]:
//! `ŷ = levels_g[code + 2^(b_g-1)]`, 0 for a 0-bit group).
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` / `reset` | in | 1 | rising edge; synchronous active-high reset (empties the pipeline) |
//! | `s_axis_tdata` | in | `8*LANES` | lane `i` code (two's complement, sign-extended from its group's width) in `[8i+7:8i]` |
//! | `s_axis_tuser` | in | `3*LANES` | lane `i` group index 0..=7 in `[3i+2:3i]` |
//! | `s_axis_tlast` | in | 1 | passed through |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | input handshake; `tready` = registered state and `reset` only |
//! | `m_axis_tdata` | out | `16*LANES` | lane `i` ŷ (two's complement) in `[16i+15:16i]` |
//! | `m_axis_tlast` / `m_axis_tvalid` / `m_axis_tready` | out / out / in | 1 | output handshake (`tvalid` a register) |
//!
//! # Micro-architecture
//!
//! Each lane ([`DeqLane`]) owns a copy of the block's level ROM (rust-hdl
//! `ROM`, a `case` statement in Verilog) addressed by `{group[2:0],
//! code[7:0]}`: group `g` of `b` bits has entries at `code & 0xFF` for
//! codes `-2^(b-1) .. 2^(b-1)-1` holding `levels_g[code + 2^(b-1)]`. Every
//! other address (0-bit groups, codes outside a group's range, group
//! indices beyond the block's groups) reads 0. The ROM holds `Σ_g 2^b_g`
//! entries (at most 2048), no address arithmetic is needed.
//!
//! One register stage: ROM read → output register, with a skid register so
//! that `s_axis_tready = !skid_full` does not depend on `m_axis_tready`.
//! Latency 1 cycle, one beat per cycle when the sink is ready.
//!
//! Any `LANES` (the policy's B, up to 64): each lane's output offset `16*i`
//! is a 16-bit constant (an 8-bit one would wrap at lane 16).

use actcomp_golden::policy::BlockPolicy;
use rust_hdl::prelude::*;

/// Level ROM address of `code` in group `group` (`{group, code[7:0]}`).
pub fn level_address(group: usize, code: i32) -> u64 {
    ((group as u64) << 8) | (code as u8 as u64)
}

/// The level ROM contents of a block: `(address, ŷ as 16-bit two's complement)`.
pub fn level_rom_entries(block: &BlockPolicy) -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    for (g, grp) in block.groups.iter().enumerate() {
        if grp.bits == 0 {
            continue;
        }
        let half = 1i32 << (grp.bits - 1);
        for code in -half..half {
            v.push((level_address(g, code), grp.levels[(code + half) as usize] as u16 as u64));
        }
    }
    v
}

/// One dequantizer lane: ROM look-up of `{group, code}`, result placed at
/// bit `16*lane` of the `OW`-bit output beat.
#[derive(LogicBlock)]
pub struct DeqLane<const OW: usize> {
    /// Code (8-bit two's complement).
    pub code: Signal<In, Bits<8>>,
    /// Group index.
    pub group: Signal<In, Bits<3>>,
    /// ŷ placed at bit `16*lane`, zero elsewhere.
    pub placed: Signal<Out, Bits<OW>>,
    rom: ROM<Bits<16>, 11>,
    /// `16*lane`: up to 1008 at B = 64, so 16 bits (8 bits would wrap at lane 16).
    c_pos: Constant<Bits<16>>,
}

impl<const OW: usize> DeqLane<OW> {
    /// Lane `lane` with the level ROM of `block`.
    pub fn new(block: &BlockPolicy, lane: usize) -> Self {
        assert!(16 * lane + 16 <= OW, "lane {lane} outside a {OW}-bit beat");
        let map: std::collections::BTreeMap<Bits<11>, Bits<16>> =
            level_rom_entries(block).into_iter().map(|(a, d)| (a.into(), d.into())).collect();
        Self {
            code: Default::default(),
            group: Default::default(),
            placed: Default::default(),
            rom: ROM::new(map),
            c_pos: Constant::new(((16 * lane) as u64).into()),
        }
    }
}

impl<const OW: usize> Logic for DeqLane<OW> {
    #[hdl_gen]
    fn update(&mut self) {
        self.rom.address.next = (bit_cast::<11, 3>(self.group.val()) << 8) | bit_cast::<11, 8>(self.code.val());
        self.placed.next = bit_cast::<OW, 16>(self.rom.data.val()) << self.c_pos.val();
    }
}

/// The dequantizer for one block of `LANES = B` components. `CW = 8*LANES`,
/// `GW = 3*LANES`, `OW = 16*LANES` (checked by [`Dequantizer::new`]).
#[derive(LogicBlock)]
pub struct Dequantizer<const LANES: usize, const CW: usize, const GW: usize, const OW: usize> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Codes, 8 bits per lane.
    pub s_axis_tdata: Signal<In, Bits<CW>>,
    /// Group index per lane, 3 bits per lane.
    pub s_axis_tuser: Signal<In, Bits<GW>>,
    /// Input valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// Input ready (registered state only).
    pub s_axis_tready: Signal<Out, Bit>,
    /// Passed through to `m_axis_tlast`.
    pub s_axis_tlast: Signal<In, Bit>,
    /// ŷ, 16 bits per lane.
    pub m_axis_tdata: Signal<Out, Bits<OW>>,
    /// Output valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Sink ready.
    pub m_axis_tready: Signal<In, Bit>,
    /// Output tlast.
    pub m_axis_tlast: Signal<Out, Bit>,
    /// Per-lane level look-up.
    pub lanes: [DeqLane<OW>; LANES],
    yhat: Signal<Local, Bits<OW>>,
    fire: Signal<Local, Bit>,
    out_take: Signal<Local, Bit>,
    out_data: DFF<Bits<OW>>,
    out_last: DFF<Bit>,
    out_valid: DFF<Bit>,
    skid_data: DFF<Bits<OW>>,
    skid_last: DFF<Bit>,
    skid_valid: DFF<Bit>,
}

/// B = 4.
pub type Dequantizer4 = Dequantizer<4, 32, 12, 64>;
/// B = 8.
pub type Dequantizer8 = Dequantizer<8, 64, 24, 128>;
/// B = 16.
pub type Dequantizer16 = Dequantizer<16, 128, 48, 256>;
/// B = 32.
pub type Dequantizer32 = Dequantizer<32, 256, 96, 512>;
/// B = 64.
pub type Dequantizer64 = Dequantizer<64, 512, 192, 1024>;

impl<const LANES: usize, const CW: usize, const GW: usize, const OW: usize> Dequantizer<LANES, CW, GW, OW> {
    /// The dequantizer of `block` (its groups' level tables become ROMs).
    /// Panics if `block` has `LANES` components is false, more than 8 groups,
    /// or the width parameters are inconsistent.
    pub fn new(block: &BlockPolicy) -> Self {
        assert_eq!(CW, 8 * LANES, "CW must be 8*LANES");
        assert_eq!(GW, 3 * LANES, "GW must be 3*LANES");
        assert_eq!(OW, 16 * LANES, "OW must be 16*LANES");
        assert_eq!(block.mean.len(), LANES, "block size must equal LANES");
        assert!(block.groups.len() <= 8, "at most 8 groups");
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
            lanes: std::array::from_fn(|i| DeqLane::new(block, i)),
            yhat: Default::default(),
            fire: Default::default(),
            out_take: Default::default(),
            out_data: Default::default(),
            out_last: Default::default(),
            out_valid: Default::default(),
            skid_data: Default::default(),
            skid_last: Default::default(),
            skid_valid: Default::default(),
        }
    }
}

impl<const LANES: usize, const CW: usize, const GW: usize, const OW: usize> Logic for Dequantizer<LANES, CW, GW, OW> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, out_data, out_last, out_valid, skid_data, skid_last, skid_valid);
        self.s_axis_tready.next = !self.skid_valid.q.val() & !self.reset.val();
        self.fire.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        self.yhat.next = 0.into();
        for i in 0..LANES {
            self.lanes[i].code.next = self.s_axis_tdata.val().get_bits::<8>(8 * i);
            self.lanes[i].group.next = self.s_axis_tuser.val().get_bits::<3>(3 * i);
            self.yhat.next = self.yhat.val() | self.lanes[i].placed.val();
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
        if self.fire.val() {
            if !self.out_valid.q.val() | self.m_axis_tready.val() {
                self.out_data.d.next = self.yhat.val();
                self.out_last.d.next = self.s_axis_tlast.val();
                self.out_valid.d.next = true;
            } else {
                self.skid_data.d.next = self.yhat.val();
                self.skid_last.d.next = self.s_axis_tlast.val();
                self.skid_valid.d.next = true;
            }
        }
        if self.reset.val() {
            self.out_valid.d.next = false;
            self.out_last.d.next = false;
            self.skid_valid.d.next = false;
        }
        self.m_axis_tdata.next = self.out_data.q.val();
        self.m_axis_tvalid.next = self.out_valid.q.val() & !self.reset.val();
        self.m_axis_tlast.next = self.out_last.q.val();
    }
}
