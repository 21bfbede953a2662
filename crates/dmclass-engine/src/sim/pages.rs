//! The page store of a simulated disk: sparse 4 KiB pages, zero pages not kept.

use super::{DiskState, PAGE};

/// Splits `[off, off+len)` into `(page index, offset in page, position in buffer, n)`.
fn page_runs(off: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize, usize)> {
    let page = PAGE as u64;
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= len {
            return None;
        }
        let abs = off + pos as u64;
        let idx = abs / page;
        // The remainder of a division by PAGE fits in usize.
        let in_page = usize::try_from(abs % page).unwrap_or(0);
        let n = (PAGE - in_page).min(len - pos);
        let run = (idx, in_page, pos, n);
        pos += n;
        Some(run)
    })
}

pub(crate) fn read_pages(disk: &DiskState, off: u64, out: &mut [u8]) {
    for (idx, in_page, pos, n) in page_runs(off, out.len()) {
        match disk.pages.get(&idx) {
            Some(p) => out[pos..pos + n].copy_from_slice(&p[in_page..in_page + n]),
            None => out[pos..pos + n].fill(0),
        }
    }
}

/// Compared with as a slice: a `memcmp`, fast also in unoptimized test builds (a
/// simulated resync of a 10 GiB volume checks every page).
static ZERO_PAGE: [u8; PAGE] = [0; PAGE];

pub(crate) fn write_pages(disk: &mut DiskState, off: u64, data: &[u8]) {
    for (idx, in_page, pos, n) in page_runs(off, data.len()) {
        let src = &data[pos..pos + n];
        let zero = src == &ZERO_PAGE[..n];
        if zero && n == PAGE {
            disk.pages.remove(&idx); // keep zeroed ranges sparse
            continue;
        }
        match disk.pages.get_mut(&idx) {
            Some(p) => p[in_page..in_page + n].copy_from_slice(src),
            None if zero => {}
            None => {
                let mut p = Box::new([0u8; PAGE]);
                p[in_page..in_page + n].copy_from_slice(src);
                disk.pages.insert(idx, p);
            }
        }
    }
}
