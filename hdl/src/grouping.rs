//! Group importance sorter for dynamic grouping (the hardware counterpart of
//! [`actcomp_golden::grouping::dynamic_group_map`]).
//!
//! Per tile of one block it accumulates the component energies
//! `E_k = Σ_tile |y_k|`, sorts the B components by (E descending, static
//! rank position ascending) with a pipelined bitonic sorting network, assigns
//! group indices from the policy's group sizes, emits the tile's group map
//! and then replays the tile's `y` vectors with each lane's group attached.
//!
//! # Ports (AXI4-Stream style)
//!
//! | port | dir | width | meaning |
//! |---|---|---|---|
//! | `clock` | in | 1 | rising-edge clock |
//! | `reset` | in | 1 | synchronous, active high; while high no `tready`/`tvalid` is high |
//! | `s_axis_tdata` | in | `YW = 16*B` | lane `k` = `y_k` (16-bit two's complement) in `[16k+15:16k]` |
//! | `s_axis_tvalid` / `s_axis_tready` | in / out | 1 | input handshake (see below for `tready`) |
//! | `s_axis_tlast` | in | 1 | last vector of a tile (a tile also ends after `T` vectors) |
//! | `m_axis_tdata` | out | `YW` | the replayed `y` vector (same layout as the input) |
//! | `m_axis_tuser` | out | `GW = 3*B` | lane `k` = group index of component `k` in this tile, `[3k+2:3k]` |
//! | `m_axis_tvalid` / `m_axis_tready` | out / in | 1 | replay handshake; `m_axis_tvalid` is a register |
//! | `m_axis_tlast` | out | 1 | last vector of the tile |
//! | `m_map_tdata` | out | `GW` | the tile's group map (one beat per tile), lane `k` as in `m_axis_tuser` |
//! | `m_map_tvalid` / `m_map_tready` | out / in | 1 | map handshake; `m_map_tvalid` is a register |
//!
//! `s_axis_tready = !reset && fill != 2T && !(snap_valid && tile_end)`, where
//! `tile_end = s_axis_tlast || count == T-1`: registered state, plus the
//! beat's `tlast` (a tile-end beat waits while the previous tile's energies
//! are still in the snapshot register). No combinational path runs from
//! `m_axis_tready` or `m_map_tready` to `s_axis_tready`.
//!
//! # Micro-architecture
//!
//! * Tile buffer: a rust-hdl `RAM` widget of `2T` entries of `{y, tile_end}`
//!   used as a circular FIFO (write pointer, read pointer, fill count), so
//!   the next tile streams in while the current one is sorted and replayed.
//!   Read address = read pointer (+1 when a beat leaves), a counter signal.
//! * Energy lanes ([`EnergyLane`]): `|y|` as 16-bit unsigned (`|-32768| =
//!   0x8000`), 24-bit accumulator (`T <= 256`: `E <= 2^23`). The sort key is
//!   `{E, B - 1 - pos_k}` (24 + 6 = 30 bits for every B): keys are
//!   distinct, and key order is exactly (E descending, static position
//!   ascending).
//! * Snapshot register (B keys) at the tile end, then a bitonic sorting
//!   network, one compare-exchange column per register stage:
//!
//!   | B | stages ([`sorter_stages`]) | comparators (B/2 per stage) |
//!   |---|---|---|
//!   | 4 | 3 | 6 |
//!   | 8 | 6 | 24 |
//!   | 16 | 10 | 80 |
//!   | 32 | 15 | 240 |
//!   | 64 | 21 | 672 |
//!
//!   The network is written once for 64 wires (a table of 21 stages, each
//!   `merge m, distance d`, expanded by a `macro_rules!` into literal-stride
//!   loops before `#[hdl_gen]` sees the kernel); loop bounds in B drop the
//!   comparators a smaller B does not have (the network for B is the
//!   restriction of the one for 64 to the first B wires). The stage
//!   registers of the stages past `sorter_stages(B)` stay in the struct
//!   but hold constants (no comparator writes them; synthesis removes them).
//! * Group assignment: sorted position `r` has the constant group `g(r)`
//!   (`start_g <= r < start_{g+1}`); component `k` takes `g(r)` of the `r`
//!   whose key ends in `B - 1 - pos_k` (B x B 6-bit constant compares),
//!   into the pending-map register.
//! * Replay: when the pending map can go out (map register free) and the
//!   previous tile's last vector leaves (or nothing is being replayed), the
//!   map goes to `m_map_*` and to the replay's lane groups; the tile's
//!   vectors then leave one per cycle from the RAM.
//!
//! The sorter pipeline (snapshot → stages → pending map) advances together
//! while the pending map is empty or being taken.

use actcomp_golden::grouping::rank_positions;
use actcomp_golden::policy::BlockPolicy;
use rust_hdl::prelude::*;

/// Largest tile (vectors) the energy width supports: `E <= 256 * 32768 < 2^24`.
pub const SORTER_MAX_TILE: usize = 256;
/// Largest number of groups (3-bit group index).
pub const SORTER_MAX_GROUPS: usize = 8;

/// Compare-exchange stages of the bitonic network for `b` = 4, 8, 16, 32, 64
/// (3, 6, 10, 15, 21): `m (m + 1) / 2` for `b = 2^m`.
pub const fn sorter_stages(b: usize) -> usize {
    let m = b.trailing_zeros() as usize;
    m * (m + 1) / 2
}

/// One lane's energy accumulator: `acc += |y|` per accepted vector, cleared
/// after the tile-end vector; `key = {acc + |y|, npos}` is the lane's sort
/// key including the vector being accepted (taken at the tile end).
#[derive(LogicBlock)]
pub struct EnergyLane {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset (clears the accumulator).
    pub reset: Signal<In, Bit>,
    /// `y` of this lane (two's complement).
    pub y: Signal<In, Bits<16>>,
    /// A vector is accepted this cycle.
    pub accept: Signal<In, Bit>,
    /// The accepted vector ends the tile (accumulator restarts at 0).
    pub tile_end: Signal<In, Bit>,
    /// `{acc + |y|, npos}` (24 + 6 bits; `npos = B - 1 - pos`).
    pub key: Signal<Out, Bits<30>>,
    ay: Signal<Local, Bits<16>>,
    sum: Signal<Local, Bits<24>>,
    acc: DFF<Bits<24>>,
    c_npos: Constant<Bits<30>>,
}

impl EnergyLane {
    fn new(npos: u64) -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            y: Default::default(),
            accept: Default::default(),
            tile_end: Default::default(),
            key: Default::default(),
            ay: Default::default(),
            sum: Default::default(),
            acc: Default::default(),
            c_npos: Constant::new(Bits::<30>::from(npos)),
        }
    }
}

impl Logic for EnergyLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc);
        self.ay.next = self.y.val();
        if self.y.val().get_bit(15) {
            self.ay.next = !self.y.val() + 1;
        }
        self.sum.next = self.acc.q.val() + bit_cast::<24, 16>(self.ay.val());
        if self.accept.val() {
            self.acc.d.next = self.sum.val();
            if self.tile_end.val() {
                self.acc.d.next = 0.into();
            }
        }
        if self.reset.val() {
            self.acc.d.next = 0.into();
        }
        self.key.next = (bit_cast::<30, 24>(self.sum.val()) << 6) | self.c_npos.val();
    }
}

/// The group importance sorter (see the module documentation).
///
/// Const parameters: `B` lanes (4, 8, 16, 32 or 64), `YW = 16*B`, `GW = 3*B`,
/// `RW = YW + 1` (tile-buffer word `{y, tile_end}`), `AW` tile-buffer
/// address bits: the buffer holds `2^AW = 2T` vectors, `T = 2^(AW-1)` is the
/// largest tile (1..=256). Checked by [`GroupSorter::new`]; aliases
/// [`GroupSorter4x16`], [`GroupSorter8x16`], [`GroupSorter8x256`],
/// [`GroupSorter16x256`].
#[derive(LogicBlock)]
pub struct GroupSorter<const B: usize, const YW: usize, const GW: usize, const RW: usize, const AW: usize> {
    /// Rising-edge clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous active-high reset.
    pub reset: Signal<In, Bit>,
    /// Transform outputs, lane `k` in `[16k+15:16k]`.
    pub s_axis_tdata: Signal<In, Bits<YW>>,
    /// Input beat valid.
    pub s_axis_tvalid: Signal<In, Bit>,
    /// The unit takes a beat.
    pub s_axis_tready: Signal<Out, Bit>,
    /// Last vector of a tile.
    pub s_axis_tlast: Signal<In, Bit>,
    /// Replayed `y` vector.
    pub m_axis_tdata: Signal<Out, Bits<YW>>,
    /// Group index of each lane, lane `k` in `[3k+2:3k]`.
    pub m_axis_tuser: Signal<Out, Bits<GW>>,
    /// Replay beat valid (register).
    pub m_axis_tvalid: Signal<Out, Bit>,
    /// Downstream takes the replay beat.
    pub m_axis_tready: Signal<In, Bit>,
    /// Last vector of the tile.
    pub m_axis_tlast: Signal<Out, Bit>,
    /// The tile's group map, lane `k` in `[3k+2:3k]`.
    pub m_map_tdata: Signal<Out, Bits<GW>>,
    /// Map beat valid (register).
    pub m_map_tvalid: Signal<Out, Bit>,
    /// Downstream takes the map.
    pub m_map_tready: Signal<In, Bit>,
    lanes: [EnergyLane; B],
    ram: RAM<Bits<RW>, AW>,
    // input side
    accept: Signal<Local, Bit>,
    tile_end: Signal<Local, Bit>,
    tend_acc: Signal<Local, Bit>,
    wr_ptr: DFF<Bits<AW>>,
    tcnt: DFF<Bits<10>>,
    fill: DFF<Bits<10>>,
    snap_valid: DFF<Bit>,
    snap: [DFF<Bits<30>>; B],
    // sorting network
    ld: [Signal<Local, Bit>; 22],
    v: [DFF<Bit>; 21],
    s1: [DFF<Bits<30>>; B],
    s2: [DFF<Bits<30>>; B],
    s3: [DFF<Bits<30>>; B],
    s4: [DFF<Bits<30>>; B],
    s5: [DFF<Bits<30>>; B],
    s6: [DFF<Bits<30>>; B],
    s7: [DFF<Bits<30>>; B],
    s8: [DFF<Bits<30>>; B],
    s9: [DFF<Bits<30>>; B],
    s10: [DFF<Bits<30>>; B],
    s11: [DFF<Bits<30>>; B],
    s12: [DFF<Bits<30>>; B],
    s13: [DFF<Bits<30>>; B],
    s14: [DFF<Bits<30>>; B],
    s15: [DFF<Bits<30>>; B],
    s16: [DFF<Bits<30>>; B],
    s17: [DFF<Bits<30>>; B],
    s18: [DFF<Bits<30>>; B],
    s19: [DFF<Bits<30>>; B],
    s20: [DFF<Bits<30>>; B],
    s21: [DFF<Bits<30>>; B],
    fin: [Signal<Local, Bits<6>>; B],
    vfin: Signal<Local, Bit>,
    map: Signal<Local, Bits<GW>>,
    pend_map: DFF<Bits<GW>>,
    pend_valid: DFF<Bit>,
    // replay
    out_free: Signal<Local, Bit>,
    mm_free: Signal<Local, Bit>,
    rlast: Signal<Local, Bit>,
    pop: Signal<Local, Bit>,
    start: Signal<Local, Bit>,
    rd_ptr: DFF<Bits<AW>>,
    cur_map: DFF<Bits<GW>>,
    cur_active: DFF<Bit>,
    o_data: DFF<Bits<YW>>,
    o_user: DFF<Bits<GW>>,
    o_last: DFF<Bit>,
    o_valid: DFF<Bit>,
    mm_data: DFF<Bits<GW>>,
    mm_valid: DFF<Bit>,
    // constants
    c_tmax_m1: Constant<Bits<10>>,
    c_cap: Constant<Bits<10>>,
    c_one_rw: Constant<Bits<RW>>,
    c_last: [Constant<Bit>; 21],
    c_gval: [Constant<Bits<GW>>; B],
    c_off: [Constant<Bits<8>>; B],
    c_npos: [Constant<Bits<6>>; B],
}

/// B = 4, T = 16.
pub type GroupSorter4x16 = GroupSorter<4, 64, 12, 65, 5>;
/// B = 8, T = 16.
pub type GroupSorter8x16 = GroupSorter<8, 128, 24, 129, 5>;
/// B = 8, T = 256.
pub type GroupSorter8x256 = GroupSorter<8, 128, 24, 129, 9>;
/// B = 16, T = 256.
pub type GroupSorter16x256 = GroupSorter<16, 256, 48, 257, 9>;

impl<const B: usize, const YW: usize, const GW: usize, const RW: usize, const AW: usize>
    GroupSorter<B, YW, GW, RW, AW>
{
    /// Largest tile `T = 2^(AW-1)`.
    pub const MAX_TILE: usize = 1 << (AW - 1);

    /// Builds the sorter for one block policy (`rank` and group sizes become
    /// constants); panics on inconsistent const parameters or an invalid block.
    pub fn new(blk: &BlockPolicy) -> Self {
        assert!(matches!(B, 4 | 8 | 16 | 32 | 64), "B must be 4, 8, 16, 32 or 64");
        assert_eq!(YW, 16 * B, "YW must be 16*B");
        assert_eq!(GW, 3 * B, "GW must be 3*B");
        assert_eq!(RW, YW + 1, "RW must be YW + 1");
        assert!((1..=9).contains(&AW), "AW must be 1..=9 (T = 2^(AW-1) <= 256)");
        assert_eq!(blk.rank.len(), B, "block size must be B");
        let mut seen = vec![false; B];
        for &k in &blk.rank {
            assert!(k < B && !seen[k], "rank must be a permutation of 0..B");
            seen[k] = true;
        }
        assert!((1..=SORTER_MAX_GROUPS).contains(&blk.groups.len()), "1..=8 groups");
        assert_eq!(blk.groups.iter().map(|g| g.size).sum::<usize>(), B, "group sizes must add up to B");
        let pos = rank_positions(&blk.rank);
        let mut grp_of_rank = Vec::with_capacity(B);
        for (g, grp) in blk.groups.iter().enumerate() {
            grp_of_rank.extend(std::iter::repeat_n(g as u64, grp.size));
        }
        let t = 1usize << (AW - 1);
        let stages = sorter_stages(B);
        Self {
            clock: Default::default(),
            reset: Default::default(),
            s_axis_tdata: Default::default(),
            s_axis_tvalid: Default::default(),
            s_axis_tready: Default::default(),
            s_axis_tlast: Default::default(),
            m_axis_tdata: Default::default(),
            m_axis_tuser: Default::default(),
            m_axis_tvalid: Default::default(),
            m_axis_tready: Default::default(),
            m_axis_tlast: Default::default(),
            m_map_tdata: Default::default(),
            m_map_tvalid: Default::default(),
            m_map_tready: Default::default(),
            lanes: std::array::from_fn(|k| EnergyLane::new((B - 1 - pos[k]) as u64)),
            ram: RAM::default(),
            accept: Default::default(),
            tile_end: Default::default(),
            tend_acc: Default::default(),
            wr_ptr: Default::default(),
            tcnt: Default::default(),
            fill: Default::default(),
            snap_valid: Default::default(),
            snap: std::array::from_fn(|_| Default::default()),
            ld: std::array::from_fn(|_| Default::default()),
            v: std::array::from_fn(|_| Default::default()),
            s1: std::array::from_fn(|_| Default::default()),
            s2: std::array::from_fn(|_| Default::default()),
            s3: std::array::from_fn(|_| Default::default()),
            s4: std::array::from_fn(|_| Default::default()),
            s5: std::array::from_fn(|_| Default::default()),
            s6: std::array::from_fn(|_| Default::default()),
            s7: std::array::from_fn(|_| Default::default()),
            s8: std::array::from_fn(|_| Default::default()),
            s9: std::array::from_fn(|_| Default::default()),
            s10: std::array::from_fn(|_| Default::default()),
            s11: std::array::from_fn(|_| Default::default()),
            s12: std::array::from_fn(|_| Default::default()),
            s13: std::array::from_fn(|_| Default::default()),
            s14: std::array::from_fn(|_| Default::default()),
            s15: std::array::from_fn(|_| Default::default()),
            s16: std::array::from_fn(|_| Default::default()),
            s17: std::array::from_fn(|_| Default::default()),
            s18: std::array::from_fn(|_| Default::default()),
            s19: std::array::from_fn(|_| Default::default()),
            s20: std::array::from_fn(|_| Default::default()),
            s21: std::array::from_fn(|_| Default::default()),
            fin: std::array::from_fn(|_| Default::default()),
            vfin: Default::default(),
            map: Default::default(),
            pend_map: Default::default(),
            pend_valid: Default::default(),
            out_free: Default::default(),
            mm_free: Default::default(),
            rlast: Default::default(),
            pop: Default::default(),
            start: Default::default(),
            rd_ptr: Default::default(),
            cur_map: Default::default(),
            cur_active: Default::default(),
            o_data: Default::default(),
            o_user: Default::default(),
            o_last: Default::default(),
            o_valid: Default::default(),
            mm_data: Default::default(),
            mm_valid: Default::default(),
            c_tmax_m1: Constant::new(Bits::<10>::from((t - 1) as u64)),
            c_cap: Constant::new(Bits::<10>::from((2 * t) as u64)),
            c_one_rw: Constant::new(Bits::<RW>::from(1u64)),
            c_last: std::array::from_fn(|t| Constant::new(t + 1 == stages)),
            c_gval: std::array::from_fn(|r| Constant::new(Bits::<GW>::from(grp_of_rank[r]))),
            c_off: std::array::from_fn(|k| Constant::new(Bits::<8>::from((3 * k) as u64))),
            c_npos: std::array::from_fn(|k| Constant::new(Bits::<6>::from((B - 1 - pos[k]) as u64))),
        }
    }
}

/// Emits `impl Logic for GroupSorter`: the kernel with one compare-exchange
/// column per listed stage (`#[hdl_gen]` sees the expanded code, so each
/// stage is plain loops over literal strides in the emitted Verilog). A
/// stage is `t: (valid source), source keys -> stage keys, merge m, distance d`.
macro_rules! group_sorter_logic {
    ($( $t:tt : ($($vin:tt)+), $src:ident -> $dst:ident, merge $m:tt, distance $d:tt; )*) => {
impl<const B: usize, const YW: usize, const GW: usize, const RW: usize, const AW: usize> Logic
    for GroupSorter<B, YW, GW, RW, AW>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, wr_ptr, tcnt, fill, snap_valid, pend_map, pend_valid, rd_ptr, cur_map, cur_active, o_data,
            o_user, o_last, o_valid, mm_data, mm_valid
        );
        for t in 0..21 {
            self.v[t].clock.next = self.clock.val();
            self.v[t].d.next = self.v[t].q.val();
        }
        for i in 0..B {
            self.snap[i].clock.next = self.clock.val();
            self.snap[i].d.next = self.snap[i].q.val();
            $(
                self.$dst[i].clock.next = self.clock.val();
                self.$dst[i].d.next = self.$dst[i].q.val();
            )*
        }
        // ---- replay side (combinational decisions first) ----
        self.out_free.next = !self.o_valid.q.val() | self.m_axis_tready.val();
        self.mm_free.next = !self.mm_valid.q.val() | self.m_map_tready.val();
        self.rlast.next = self.ram.read_data.val().get_bit(0);
        self.pop.next = self.cur_active.q.val() & self.out_free.val();
        self.start.next = self.pend_valid.q.val()
            & self.mm_free.val()
            & (!self.cur_active.q.val() | (self.pop.val() & self.rlast.val()));
        // Load enables, last stage first: a stage loads when it is empty or
        // its content moves on (bubbles collapse). ld[t] is stage t+1's
        // load; ld[21] the pending-map register's. The last stage of this B
        // (constant c_last) feeds the pending map.
        self.ld[21].next = !self.pend_valid.q.val() | self.start.val();
        for t in 0..21 {
            self.ld[20 - t].next = !self.v[20 - t].q.val() | self.ld[21 - t].val();
            if self.c_last[20 - t].val() {
                self.ld[20 - t].next = !self.v[20 - t].q.val() | self.ld[21].val();
            }
        }
        // ---- input side ----
        self.tile_end.next = self.s_axis_tlast.val() | (self.tcnt.q.val() == self.c_tmax_m1.val());
        self.s_axis_tready.next = !self.reset.val()
            & (self.fill.q.val() != self.c_cap.val())
            & !(self.snap_valid.q.val() & self.tile_end.val());
        self.accept.next = self.s_axis_tvalid.val() & self.s_axis_tready.val();
        self.tend_acc.next = self.accept.val() & self.tile_end.val();
        for k in 0..B {
            self.lanes[k].clock.next = self.clock.val();
            self.lanes[k].reset.next = self.reset.val();
            self.lanes[k].y.next = self.s_axis_tdata.val().get_bits::<16>(16 * k);
            self.lanes[k].accept.next = self.accept.val();
            self.lanes[k].tile_end.next = self.tile_end.val();
        }
        self.ram.write_clock.next = self.clock.val();
        self.ram.read_clock.next = self.clock.val();
        self.ram.write_address.next = self.wr_ptr.q.val();
        self.ram.write_enable.next = self.accept.val();
        self.ram.write_data.next = bit_cast::<RW, YW>(self.s_axis_tdata.val()) << 1;
        if self.tile_end.val() {
            self.ram.write_data.next = (bit_cast::<RW, YW>(self.s_axis_tdata.val()) << 1) | self.c_one_rw.val();
        }
        if self.accept.val() {
            self.wr_ptr.d.next = self.wr_ptr.q.val() + 1;
            self.tcnt.d.next = self.tcnt.q.val() + 1;
            if self.tile_end.val() {
                self.tcnt.d.next = 0.into();
            }
        }
        if self.accept.val() & !self.pop.val() {
            self.fill.d.next = self.fill.q.val() + 1;
        }
        if !self.accept.val() & self.pop.val() {
            self.fill.d.next = self.fill.q.val() - 1;
        }
        // snapshot of the tile's keys
        if self.ld[0].val() {
            self.snap_valid.d.next = false;
        }
        if self.tend_acc.val() {
            self.snap_valid.d.next = true;
            for k in 0..B {
                self.snap[k].d.next = self.lanes[k].key.val();
            }
        }
        // ---- bitonic sorting network, one compare-exchange column per stage ----
        // Stage t merges bitonic runs into sorted blocks of m wires with
        // compare-exchanges at distance d: block u of m wires sorts
        // descending for even u and ascending for odd u (the last merge,
        // m = B, has block 0 only). Pair j (0..m/2) of a block joins wire
        // lo = j / d * 2d + j % d with lo + d. Loop bounds in B drop the
        // blocks a smaller B does not have, so the network for B is the
        // restriction of the one for 64 to the first B wires.
        $(
            if self.ld[$t].val() {
                self.v[$t].d.next = self.$($vin)+.q.val();
                for u in 0..((B / $m).div_ceil(2)) {
                    for j in 0..($m / 2) {
                        if self.$src[u * (2 * $m) + j / $d * (2 * $d) + j % $d].q.val()
                            > self.$src[u * (2 * $m) + j / $d * (2 * $d) + j % $d + $d].q.val()
                        {
                            self.$dst[u * (2 * $m) + j / $d * (2 * $d) + j % $d].d.next =
                                self.$src[u * (2 * $m) + j / $d * (2 * $d) + j % $d].q.val();
                            self.$dst[u * (2 * $m) + j / $d * (2 * $d) + j % $d + $d].d.next =
                                self.$src[u * (2 * $m) + j / $d * (2 * $d) + j % $d + $d].q.val();
                        } else {
                            self.$dst[u * (2 * $m) + j / $d * (2 * $d) + j % $d].d.next =
                                self.$src[u * (2 * $m) + j / $d * (2 * $d) + j % $d + $d].q.val();
                            self.$dst[u * (2 * $m) + j / $d * (2 * $d) + j % $d + $d].d.next =
                                self.$src[u * (2 * $m) + j / $d * (2 * $d) + j % $d].q.val();
                        }
                    }
                }
                for u in 0..(B / (2 * $m)) {
                    for j in 0..($m / 2) {
                        if self.$src[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d].q.val()
                            > self.$src[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d + $d].q.val()
                        {
                            self.$dst[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d].d.next =
                                self.$src[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d + $d].q.val();
                            self.$dst[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d + $d].d.next =
                                self.$src[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d].q.val();
                        } else {
                            self.$dst[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d].d.next =
                                self.$src[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d].q.val();
                            self.$dst[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d + $d].d.next =
                                self.$src[u * (2 * $m) + $m + j / $d * (2 * $d) + j % $d + $d].q.val();
                        }
                    }
                }
            }
        )*
        // sorted keys of the last stage of this B (3 / 6 / 10 / 15 / 21)
        self.vfin.next = self.v[20].q.val();
        for t in 0..20 {
            if self.c_last[t].val() {
                self.vfin.next = self.v[t].q.val();
            }
        }
        for r in 0..B {
            self.fin[r].next = self.s21[r].q.val().get_bits::<6>(0);
            if self.c_last[2].val() {
                self.fin[r].next = self.s3[r].q.val().get_bits::<6>(0);
            }
            if self.c_last[5].val() {
                self.fin[r].next = self.s6[r].q.val().get_bits::<6>(0);
            }
            if self.c_last[9].val() {
                self.fin[r].next = self.s10[r].q.val().get_bits::<6>(0);
            }
            if self.c_last[14].val() {
                self.fin[r].next = self.s15[r].q.val().get_bits::<6>(0);
            }
        }
        // group assignment: component k gets the group of the sorted
        // position r whose key carries k's static position
        self.map.next = 0.into();
        for k in 0..B {
            for r in 0..B {
                if self.fin[r].val() == self.c_npos[k].val() {
                    self.map.next = self.map.val() | (self.c_gval[r].val() << self.c_off[k].val());
                }
            }
        }
        if self.ld[21].val() {
            self.pend_valid.d.next = self.vfin.val();
            self.pend_map.d.next = self.map.val();
        }
        // ---- replay side (registers) ----
        if self.mm_valid.q.val() & self.m_map_tready.val() {
            self.mm_valid.d.next = false;
        }
        if self.o_valid.q.val() & self.m_axis_tready.val() {
            self.o_valid.d.next = false;
        }
        if self.pop.val() {
            self.o_data.d.next = self.ram.read_data.val().get_bits::<YW>(1);
            self.o_user.d.next = self.cur_map.q.val();
            self.o_last.d.next = self.rlast.val();
            self.o_valid.d.next = true;
            self.rd_ptr.d.next = self.rd_ptr.q.val() + 1;
            if self.rlast.val() {
                self.cur_active.d.next = false;
            }
        }
        if self.start.val() {
            self.mm_data.d.next = self.pend_map.q.val();
            self.mm_valid.d.next = true;
            self.cur_map.d.next = self.pend_map.q.val();
            self.cur_active.d.next = true;
        }
        self.ram.read_address.next = self.rd_ptr.q.val();
        if self.pop.val() {
            self.ram.read_address.next = self.rd_ptr.q.val() + 1;
        }
        if self.reset.val() {
            self.wr_ptr.d.next = 0.into();
            self.rd_ptr.d.next = 0.into();
            self.tcnt.d.next = 0.into();
            self.fill.d.next = 0.into();
            self.snap_valid.d.next = false;
            for t in 0..21 {
                self.v[t].d.next = false;
            }
            self.pend_valid.d.next = false;
            self.cur_active.d.next = false;
            self.o_valid.d.next = false;
            self.mm_valid.d.next = false;
        }
        self.m_axis_tdata.next = self.o_data.q.val();
        self.m_axis_tuser.next = self.o_user.q.val();
        self.m_axis_tlast.next = self.o_last.q.val();
        self.m_axis_tvalid.next = self.o_valid.q.val() & !self.reset.val();
        self.m_map_tdata.next = self.mm_data.q.val();
        self.m_map_tvalid.next = self.mm_valid.q.val() & !self.reset.val();
    }
}
    };
}

// The bitonic network for 64 wires: merges of 2, 4, .., 64 wires, each at
// distances m/2, .., 1 (21 stages); B < 64 uses the first sorter_stages(B).
group_sorter_logic! {
    0: (snap_valid), snap -> s1, merge 2, distance 1;
    1: (v[0]), s1 -> s2, merge 4, distance 2;
    2: (v[1]), s2 -> s3, merge 4, distance 1;
    3: (v[2]), s3 -> s4, merge 8, distance 4;
    4: (v[3]), s4 -> s5, merge 8, distance 2;
    5: (v[4]), s5 -> s6, merge 8, distance 1;
    6: (v[5]), s6 -> s7, merge 16, distance 8;
    7: (v[6]), s7 -> s8, merge 16, distance 4;
    8: (v[7]), s8 -> s9, merge 16, distance 2;
    9: (v[8]), s9 -> s10, merge 16, distance 1;
    10: (v[9]), s10 -> s11, merge 32, distance 16;
    11: (v[10]), s11 -> s12, merge 32, distance 8;
    12: (v[11]), s12 -> s13, merge 32, distance 4;
    13: (v[12]), s13 -> s14, merge 32, distance 2;
    14: (v[13]), s14 -> s15, merge 32, distance 1;
    15: (v[14]), s15 -> s16, merge 64, distance 32;
    16: (v[15]), s16 -> s17, merge 64, distance 16;
    17: (v[16]), s17 -> s18, merge 64, distance 8;
    18: (v[17]), s18 -> s19, merge 64, distance 4;
    19: (v[18]), s19 -> s20, merge 64, distance 2;
    20: (v[19]), s20 -> s21, merge 64, distance 1;
}
