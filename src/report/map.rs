//! The Hilbert-curve map of the scanned IPv4 space, the Internet census picture.
//!
//! The map covers the smallest prefix that holds every target, so that a scan of a /20
//! fills the picture as a scan of the whole Internet does. Each cell is one /24 (for
//! prefixes wider than /4, one block of 2^20 cells' worth: /28 of the map is one cell)
//! placed along a Hilbert curve, which keeps neighbouring prefixes next to each other:
//! the first cell of the prefix is at the top left, and every aligned block of cells
//! (a /22, a /20, ...) is a square or a pair of squares. A cell's colour is its hit rate:
//! distinct addresses that answered with a SYN-ACK over addresses targeted in it.

use image::{Rgb, RgbImage};
use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};

use crate::targets::AddrSet;

/// Cells of addresses the scan did not target.
pub const UNTARGETED: [u8; 3] = [224, 224, 224];
/// The fewest pixels a side of the picture has: small grids are drawn with big cells.
const MIN_SIDE_PX: u32 = 512;
/// The most cells a side has (1024 × 1024 cells at most).
const MAX_ORDER: u32 = 10;

/// A prefix and its cells, ready to draw.
pub struct Grid {
    /// First address and length of the prefix the map covers.
    pub net: u32,
    pub len: u32,
    /// Length of the prefix one cell covers (24 unless the map covers more than a /4).
    pub cell_len: u32,
    /// Hilbert order: the grid has 2^order cells a side.
    pub order: u32,
    /// Per cell, in Hilbert order: addresses targeted and distinct addresses that hit.
    pub cells: Vec<(u64, u64)>,
}

impl Grid {
    /// The grid for these targets and hits, or `None` for a scan within fewer than four
    /// /24s, which a table shows better.
    pub fn new(targets: &AddrSet, hits: &std::collections::HashSet<u32>) -> Option<Grid> {
        let (&(lo, _), &(_, hi)) = (targets.ranges().first()?, targets.ranges().last()?);
        let mut len = (lo ^ hi).leading_zeros();
        if len > 22 {
            return None;
        }
        // A Hilbert square has 4^order cells: widen the prefix by one bit where needed.
        let cell_len = 24.min(len + 2 * MAX_ORDER);
        if (cell_len - len) % 2 == 1 {
            len -= 1;
        }
        let order = (cell_len - len) / 2;
        let net = if len == 0 {
            0
        } else {
            lo & (u32::MAX << (32 - len))
        };
        let mut grid = Grid {
            net,
            len,
            cell_len,
            order,
            cells: vec![(0, 0); 1 << (2 * order)],
        };
        for &(a, b) in targets.ranges() {
            grid.add_range(a, b);
        }
        for &h in hits {
            if let Some(i) = grid.cell_of(h) {
                grid.cells[i].1 += 1;
            }
        }
        Some(grid)
    }

    /// Index of the cell that holds `addr`, if the map covers it.
    pub fn cell_of(&self, addr: u32) -> Option<usize> {
        let off = u64::from(addr.wrapping_sub(self.net));
        let span = 1u64 << (32 - self.len);
        (u64::from(addr) >= u64::from(self.net) && off < span)
            .then(|| (off >> (32 - self.cell_len)) as usize)
    }

    /// Counts the addresses `a..=b` in the cells they fall in.
    fn add_range(&mut self, a: u32, b: u32) {
        let shift = 32 - self.cell_len;
        let mut x = u64::from(a);
        while x <= u64::from(b) {
            let cell_end = ((x >> shift) + 1) << shift;
            let end = cell_end.min(u64::from(b) + 1);
            if let Some(i) = self.cell_of(x as u32) {
                self.cells[i].0 += end - x;
            }
            x = end;
        }
    }

    /// Column and row of cell `i` (its index along the curve).
    pub fn position(&self, i: usize) -> (u32, u32) {
        if self.order == 0 {
            return (0, 0);
        }
        fast_hilbert::h2xy::<u32>(i as u64, self.order as u8)
    }

    /// Pixels per cell side in [`Grid::render`].
    pub fn scale(&self) -> u32 {
        (MIN_SIDE_PX >> self.order).max(1)
    }

    /// The picture: one square of `scale()` pixels per cell.
    pub fn render(&self) -> RgbImage {
        let scale = self.scale();
        let side = (1u32 << self.order) * scale;
        let mut img = RgbImage::from_pixel(side, side, Rgb(UNTARGETED));
        for (i, &(targeted, hits)) in self.cells.iter().enumerate() {
            if targeted == 0 {
                continue;
            }
            let colour = Rgb(rate_colour(hits as f64 / targeted as f64));
            let (cx, cy) = self.position(i);
            for y in cy * scale..(cy + 1) * scale {
                for x in cx * scale..(cx + 1) * scale {
                    img.put_pixel(x, y, colour);
                }
            }
        }
        img
    }
}

/// Colour of a hit rate (0 to 1) on a log scale from 0.01 % to 100 %, viridis: dark
/// violet for no hit at all, then blue, green and yellow for 100 %.
pub fn rate_colour(rate: f64) -> [u8; 3] {
    let t = if rate <= 0.0 {
        0.0
    } else {
        0.15 + 0.85 * ((rate.log10() + 4.0) / 4.0).clamp(0.0, 1.0)
    };
    let c = ViridisRGB.get_color(t as f32);
    [c.0, c.1, c.2]
}

/// The map as PNG bytes.
pub fn png(img: &RgbImage) -> anyhow::Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn set(nets: &[&str]) -> AddrSet {
        AddrSet::from_nets(nets.iter().map(|n| n.parse().unwrap()))
    }

    #[test]
    fn a_slash_20_is_four_by_four_cells_of_slash_24() {
        let hits: HashSet<u32> = [0xc612_0201, 0xc612_0202, 0xc612_0f01].into();
        let g = Grid::new(&set(&["198.18.0.0/20"]), &hits).unwrap();
        assert_eq!(
            (g.net, g.len, g.cell_len, g.order),
            (0xc612_0000, 20, 24, 2)
        );
        assert!(g.cells.iter().all(|c| c.0 == 256));
        assert_eq!(g.cells[2].1, 2);
        assert_eq!(g.cells[15].1, 1);
        // The curve starts at the top left and ends at the top right.
        assert_eq!(g.position(0), (0, 0));
        assert_eq!(g.position(15), (3, 0));
        let img = g.render();
        assert_eq!(img.width(), 512);
    }

    #[test]
    fn odd_prefixes_widen_and_tiny_scans_give_no_map() {
        let g = Grid::new(&set(&["198.18.0.0/21"]), &HashSet::new()).unwrap();
        assert_eq!((g.len, g.order), (20, 2));
        assert_eq!(g.cells.iter().filter(|c| c.0 > 0).count(), 8);
        assert!(Grid::new(&set(&["198.18.0.0/23"]), &HashSet::new()).is_none());
        let all = Grid::new(&set(&["0.0.0.0/0"]), &HashSet::new()).unwrap();
        assert_eq!((all.len, all.cell_len, all.order), (0, 20, 10));
        assert_eq!(all.cells[0].0, 1 << 12);
    }

    #[test]
    fn colours_grow_with_the_rate() {
        let none = rate_colour(0.0);
        assert_ne!(none, rate_colour(1e-6));
        assert_eq!(rate_colour(1.0), {
            let c = ViridisRGB.get_color(1.0);
            [c.0, c.1, c.2]
        });
        assert_ne!(rate_colour(0.01), rate_colour(0.1));
    }
}
