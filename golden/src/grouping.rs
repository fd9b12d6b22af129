//! Importance grouping (step 3 of the scheme): which group each component of
//! a block belongs to, statically or per tile.
//!
//! Dynamic rule: per tile and block, component k's energy is
//! `E_k = sum over the tile's vectors of |y_k|`. Components are ordered by
//! E descending, ties by static rank ascending; the first `size_0` of that
//! order form group 0, the next `size_1` group 1, and so on.

use crate::policy::BlockPolicy;

/// Group of each component under the static ranking.
pub fn static_group_map(blk: &BlockPolicy) -> Vec<u8> {
    let mut map = vec![0u8; blk.rank.len()];
    let mut r = 0;
    for (g, grp) in blk.groups.iter().enumerate() {
        for _ in 0..grp.size {
            map[blk.rank[r]] = g as u8;
            r += 1;
        }
    }
    map
}

/// Position of each component in the static ranking (inverse of `rank`).
pub fn rank_positions(rank: &[usize]) -> Vec<usize> {
    let mut pos = vec![0; rank.len()];
    for (r, &k) in rank.iter().enumerate() {
        pos[k] = r;
    }
    pos
}

/// Group of each component for one tile, from the components' tile energies.
/// `order` is scratch space of the block size.
pub fn dynamic_group_map(energy: &[u64], positions: &[usize], sizes: &[usize], order: &mut Vec<usize>, map: &mut [u8]) {
    order.clear();
    order.extend(0..energy.len());
    order.sort_unstable_by(|&a, &b| energy[b].cmp(&energy[a]).then(positions[a].cmp(&positions[b])));
    let mut r = 0;
    for (g, &n) in sizes.iter().enumerate() {
        for _ in 0..n {
            map[order[r]] = g as u8;
            r += 1;
        }
    }
}

/// [`dynamic_group_map`] with one integer sort key per component,
/// `(2^40 - 1 - E_k, position_k, k)` packed into 40 + 12 + 12 bits: keys are
/// distinct, so an unstable sort of them gives exactly the order of the
/// rule (E descending, ties by static rank). Falls back to
/// [`dynamic_group_map`] for blocks over 4096 or energies of 2^40 and more.
pub fn dynamic_group_map_keys(energy: &[u64], positions: &[usize], sizes: &[usize], keys: &mut Vec<u64>, map: &mut [u8]) {
    const E_LIMIT: u64 = 1 << 40;
    if energy.len() > 4096 || energy.iter().any(|&e| e >= E_LIMIT) {
        return dynamic_group_map(energy, positions, sizes, &mut Vec::new(), map);
    }
    keys.clear();
    keys.extend(energy.iter().zip(positions).enumerate().map(|(k, (&e, &p))| ((E_LIMIT - 1 - e) << 24) | ((p as u64) << 12) | k as u64));
    keys.sort_unstable();
    let mut r = 0;
    for (g, &n) in sizes.iter().enumerate() {
        for key in &keys[r..r + n] {
            map[(key & 0xfff) as usize] = g as u8;
        }
        r += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_ties_follow_static_rank() {
        let energy = [5, 9, 5, 1];
        let positions = [3, 0, 1, 2]; // rank = [1, 2, 3, 0]
        let mut order = Vec::new();
        let mut map = [0u8; 4];
        dynamic_group_map(&energy, &positions, &[1, 2, 1], &mut order, &mut map);
        // order: 1 (9), 2 (5, pos 1), 0 (5, pos 3), 3 (1)
        assert_eq!(map, [1, 0, 1, 2]);
        let mut keys = Vec::new();
        let mut map2 = [9u8; 4];
        dynamic_group_map_keys(&energy, &positions, &[1, 2, 1], &mut keys, &mut map2);
        assert_eq!(map2, map);
    }

    #[test]
    fn sort_keys_match_the_comparator() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for _ in 0..500 {
            let b = rng.gen_range(1..=70);
            let energy: Vec<u64> = (0..b).map(|_| match rng.gen_range(0..3) { 0 => rng.gen_range(0..4), 1 => rng.gen_range(0..1u64 << 40), _ => rng.gen() }).collect();
            let mut rank: Vec<usize> = (0..b).collect();
            for i in (1..b).rev() {
                rank.swap(i, rng.gen_range(0..=i));
            }
            let positions = rank_positions(&rank);
            let mut sizes = vec![];
            let mut left = b;
            while left > 0 {
                let n = rng.gen_range(1..=left);
                sizes.push(n);
                left -= n;
            }
            let (mut m1, mut m2) = (vec![0u8; b], vec![0u8; b]);
            dynamic_group_map(&energy, &positions, &sizes, &mut Vec::new(), &mut m1);
            dynamic_group_map_keys(&energy, &positions, &sizes, &mut Vec::new(), &mut m2);
            assert_eq!(m1, m2);
        }
    }
}
