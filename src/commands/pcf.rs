//! Pin constraints (PCF) for the Lattice iCE40-HX8K breakout board
//! (package ct256): the clock on the board's 12 MHz oscillator pin `J3`,
//! every other top-level port bit on a free user I/O, in port order. Used
//! by `actcomp synth --pnr` so that nextpnr places real I/Os instead of
//! running with unconstrained pins. The pin list is the ct256 pin table of
//! icestorm's `chipdb-8k.txt`, without `J3` and the four SPI
//! configuration-flash pins (`P11`, `P12`, `R11`, `R12`).

use anyhow::{bail, Result};

/// User I/O pins of the HX8K ct256 package available for data ports.
const CT256_IO: &[&str] = &[
    "A1", "A2", "A5", "A6", "A7", "A9", "A10", "A11", "A15", "A16", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9",
    "B10", "B11", "B12", "B13", "B14", "B15", "B16", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11",
    "C12", "C13", "C14", "C16", "D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8", "D9", "D10", "D11", "D13", "D14", "D15",
    "D16", "E2", "E3", "E4", "E5", "E6", "E9", "E10", "E11", "E13", "E14", "E16", "F1", "F2", "F3", "F4", "F5", "F7", "F9",
    "F11", "F12", "F13", "F14", "F15", "F16", "G1", "G2", "G3", "G4", "G5", "G10", "G11", "G12", "G13", "G14", "G15", "G16",
    "H1", "H2", "H3", "H4", "H5", "H6", "H11", "H12", "H13", "H14", "H16", "J1", "J2", "J4", "J5", "J10", "J11", "J12",
    "J13", "J14", "J15", "J16", "K1", "K3", "K4", "K5", "K9", "K11", "K12", "K13", "K14", "K15", "K16", "L1", "L3", "L4",
    "L5", "L6", "L7", "L9", "L10", "L11", "L12", "L13", "L14", "L16", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9",
    "M11", "M12", "M13", "M14", "M15", "M16", "N2", "N3", "N4", "N5", "N6", "N7", "N9", "N10", "N12", "N16", "P1", "P2",
    "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P13", "P14", "P15", "P16", "R1", "R2", "R3", "R4", "R5", "R6", "R9", "R10",
    "R14", "R15", "R16", "T1", "T2", "T3", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T13", "T14", "T15", "T16",
];

/// The board's clock pin (12 MHz oscillator).
pub const HX8K_BREAKOUT_CLOCK_PIN: &str = "J3";

/// A PCF for a top level with ports `(name, width)` (the port named
/// `clock` goes to [`HX8K_BREAKOUT_CLOCK_PIN`]); errors when the ports need
/// more pins than the package has.
pub fn hx8k_breakout_pcf(module: &str, ports: &[(String, usize)]) -> Result<String> {
    let need: usize = ports.iter().filter(|(n, _)| n != "clock").map(|(_, w)| w).sum();
    if need > CT256_IO.len() {
        bail!("{module} needs {need} I/O pins besides the clock; the HX8K ct256 package has {} user pins", CT256_IO.len());
    }
    let mut out = format!(
        "# {module} on the iCE40-HX8K breakout board (ct256), written by `actcomp synth --pnr`.\n# clock: the board's 12 MHz oscillator; data ports on user I/Os in port order.\n"
    );
    let mut pins = CT256_IO.iter();
    for (name, width) in ports {
        if name == "clock" {
            out += &format!("set_io {name} {HX8K_BREAKOUT_CLOCK_PIN}\n");
            continue;
        }
        for bit in 0..*width {
            let pin = pins.next().expect("pin count checked");
            if *width == 1 {
                out += &format!("set_io {name} {pin}\n");
            } else {
                out += &format!("set_io {name}[{bit}] {pin}\n");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_distinct_and_clock_is_j3() {
        let mut seen = std::collections::BTreeSet::new();
        assert!(CT256_IO.iter().all(|p| seen.insert(*p)), "duplicate pin");
        assert!(!seen.contains(HX8K_BREAKOUT_CLOCK_PIN));
        let pcf = hx8k_breakout_pcf("m", &[("clock".into(), 1), ("d".into(), 3), ("v".into(), 1)]).unwrap();
        assert!(pcf.contains("set_io clock J3\n") && pcf.contains("set_io d[2] A5\n") && pcf.contains("set_io v A6\n"), "{pcf}");
        assert!(hx8k_breakout_pcf("m", &[("wide".into(), 500)]).unwrap_err().to_string().contains("500 I/O pins"));
    }
}
