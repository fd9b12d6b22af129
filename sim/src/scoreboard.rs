//! In-order scoreboard for word streams.

use crate::axis::OutWord;

/// One expected output word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedWord {
    /// Word value (low `word_bits` bits).
    pub data: u64,
    /// Expected `tlast` (final word of its tile).
    pub last: bool,
    /// Index of the tile the word belongs to (for reports).
    pub tile: usize,
}

/// Why a simulation run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimFailure {
    /// An output word differs from the expected one.
    #[error("mismatch at word {index} (tile {tile}) at cycle {cycle}: expected data=0x{expected:0width$x} last={expected_last}, got data=0x{got:0width$x} last={got_last}", width = *hex_digits)]
    Mismatch {
        /// Word index in the stream.
        index: usize,
        /// Tile of the expected word.
        tile: usize,
        /// Cycle of the output transfer.
        cycle: u64,
        /// Expected value.
        expected: u64,
        /// Expected `tlast`.
        expected_last: bool,
        /// Observed value.
        got: u64,
        /// Observed `tlast`.
        got_last: bool,
        /// Hex digits to print.
        hex_digits: usize,
    },
    /// The DUT produced a word after all expected words.
    #[error("extra word {index} at cycle {cycle}: data=0x{got:x} last={got_last} (only {expected_len} expected)")]
    Extra {
        /// Index of the extra word.
        index: usize,
        /// Cycle of the transfer.
        cycle: u64,
        /// Observed value.
        got: u64,
        /// Observed `tlast`.
        got_last: bool,
        /// Number of expected words.
        expected_len: usize,
    },
    /// The run hit its cycle limit before all words arrived.
    #[error("timeout after {cycles} cycles: {beats_sent}/{beats_total} beats accepted, {words_seen}/{words_expected} words received")]
    Timeout {
        /// Cycles simulated.
        cycles: u64,
        /// Beats accepted by the DUT.
        beats_sent: usize,
        /// Beats offered in total.
        beats_total: usize,
        /// Words received.
        words_seen: usize,
        /// Words expected.
        words_expected: usize,
    },
    /// An AXI4-Stream rule was broken by the DUT.
    #[error("protocol violation at cycle {cycle}: {what}")]
    Protocol {
        /// Cycle of the violation.
        cycle: u64,
        /// Description.
        what: String,
    },
    /// rust-hdl's `simulate()` did not settle (combinational loop).
    #[error("combinational logic did not settle at cycle {cycle}")]
    NoConvergence {
        /// Cycle where it happened.
        cycle: u64,
    },
}

/// Compares output words, in order, with a list of expected words.
#[derive(Debug, Clone)]
pub struct Scoreboard {
    expected: Vec<ExpectedWord>,
    next: usize,
    word_bits: u32,
}

impl Scoreboard {
    /// A scoreboard for `word_bits`-bit words.
    pub fn new(expected: Vec<ExpectedWord>, word_bits: u32) -> Self {
        Scoreboard { expected, next: 0, word_bits }
    }

    /// Checks one received word (seen on `cycle`).
    pub fn check(&mut self, w: OutWord, cycle: u64) -> Result<(), SimFailure> {
        let mask = if self.word_bits >= 64 { u64::MAX } else { (1u64 << self.word_bits) - 1 };
        let Some(e) = self.expected.get(self.next).copied() else {
            return Err(SimFailure::Extra {
                index: self.next,
                cycle,
                got: w.data,
                got_last: w.last,
                expected_len: self.expected.len(),
            });
        };
        if (e.data & mask) != (w.data & mask) || e.last != w.last {
            return Err(SimFailure::Mismatch {
                index: self.next,
                tile: e.tile,
                cycle,
                expected: e.data & mask,
                expected_last: e.last,
                got: w.data & mask,
                got_last: w.last,
                hex_digits: (self.word_bits as usize).div_ceil(4),
            });
        }
        self.next += 1;
        Ok(())
    }

    /// Words checked so far.
    pub fn seen(&self) -> usize {
        self.next
    }

    /// Number of expected words.
    pub fn expected_len(&self) -> usize {
        self.expected.len()
    }

    /// All expected words have been received.
    pub fn done(&self) -> bool {
        self.next == self.expected.len()
    }
}
