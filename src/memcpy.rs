//! `memcpy` and `memmove` for the x86-64 musl build.
//!
//! musl's x86-64 `memcpy` copies with `rep movsq`, plus one `movsb` per byte
//! of an unaligned head and tail. Those are microcoded: even a 5-byte copy
//! costs tens of cycles. A request makes dozens of copies, nearly all under
//! 256 bytes (header names and values, moves of hyper's state), and perf
//! put musl's `memcpy` among the server's most costly functions.
//!
//! This copies up to 256 bytes with unaligned loads from both ends, all loads
//! before any store, so it is also a correct `memmove`; longer blocks go
//! forward with `rep movsb` (full speed on CPUs with ERMS, Intel since 2012,
//! AMD since Zen 3), or backward 16 bytes at a time when the destination
//! overlaps the end of the source. glibc, Go and Arm's optimized routines
//! copy small blocks the same way. SSE2 only: every x86-64 has it.
//!
//! In the musl build the code also takes the C names, and a static link takes
//! an archive member only for a symbol nothing defines yet, so libc.a's
//! `memcpy` and `memmove` are left out. Elsewhere (glibc's are fast) it keeps
//! only its own name, under which the tests compare it with the standard
//! library's copies.

#[cfg(target_env = "musl")]
macro_rules! c_names {
    () => {
        ".globl memcpy\n.type memcpy, @function\nmemcpy:\n\
         .globl memmove\n.type memmove, @function\nmemmove:"
    };
}
#[cfg(not(target_env = "musl"))]
macro_rules! c_names {
    () => {
        ""
    };
}

// moscow_time_memmove(dst: rdi, src: rsi, n: rdx) -> dst: rax.
core::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl moscow_time_memmove",
    ".type moscow_time_memmove, @function",
    "moscow_time_memmove:",
    c_names!(),
    "    mov rax, rdi",
    "    cmp rdx, 16",
    "    jb .Lmt_below16",
    "    cmp rdx, 32",
    "    ja .Lmt_above32",
    // 16..=32 bytes: the first 16 and the last 16, which may overlap.
    "    movups xmm0, [rsi]",
    "    movups xmm1, [rsi + rdx - 16]",
    "    movups [rdi], xmm0",
    "    movups [rdi + rdx - 16], xmm1",
    "    ret",
    ".Lmt_below16:",
    "    cmp rdx, 8",
    "    jb .Lmt_below8",
    "    mov rcx, [rsi]",
    "    mov r8, [rsi + rdx - 8]",
    "    mov [rdi], rcx",
    "    mov [rdi + rdx - 8], r8",
    "    ret",
    ".Lmt_below8:",
    "    cmp rdx, 4",
    "    jb .Lmt_below4",
    "    mov ecx, [rsi]",
    "    mov r8d, [rsi + rdx - 4]",
    "    mov [rdi], ecx",
    "    mov [rdi + rdx - 4], r8d",
    "    ret",
    // 1..=3 bytes: the first, the middle and the last one.
    ".Lmt_below4:",
    "    test rdx, rdx",
    "    jz .Lmt_done",
    "    mov r9, rdx",
    "    shr r9, 1",
    "    movzx ecx, byte ptr [rsi]",
    "    movzx r8d, byte ptr [rsi + r9]",
    "    movzx r10d, byte ptr [rsi + rdx - 1]",
    "    mov [rdi], cl",
    "    mov [rdi + r9], r8b",
    "    mov [rdi + rdx - 1], r10b",
    ".Lmt_done:",
    "    ret",
    ".Lmt_above32:",
    "    cmp rdx, 64",
    "    ja .Lmt_above64",
    "    movups xmm0, [rsi]",
    "    movups xmm1, [rsi + 16]",
    "    movups xmm2, [rsi + rdx - 32]",
    "    movups xmm3, [rsi + rdx - 16]",
    "    movups [rdi], xmm0",
    "    movups [rdi + 16], xmm1",
    "    movups [rdi + rdx - 32], xmm2",
    "    movups [rdi + rdx - 16], xmm3",
    "    ret",
    ".Lmt_above64:",
    "    cmp rdx, 128",
    "    ja .Lmt_above128",
    "    movups xmm0, [rsi]",
    "    movups xmm1, [rsi + 16]",
    "    movups xmm2, [rsi + 32]",
    "    movups xmm3, [rsi + 48]",
    "    movups xmm4, [rsi + rdx - 64]",
    "    movups xmm5, [rsi + rdx - 48]",
    "    movups xmm6, [rsi + rdx - 32]",
    "    movups xmm7, [rsi + rdx - 16]",
    "    movups [rdi], xmm0",
    "    movups [rdi + 16], xmm1",
    "    movups [rdi + 32], xmm2",
    "    movups [rdi + 48], xmm3",
    "    movups [rdi + rdx - 64], xmm4",
    "    movups [rdi + rdx - 48], xmm5",
    "    movups [rdi + rdx - 32], xmm6",
    "    movups [rdi + rdx - 16], xmm7",
    "    ret",
    // 129..=256 bytes: the first 128 and the last 128, in all 16 registers.
    ".Lmt_above128:",
    "    cmp rdx, 256",
    "    ja .Lmt_above256",
    "    movups xmm0, [rsi]",
    "    movups xmm1, [rsi + 16]",
    "    movups xmm2, [rsi + 32]",
    "    movups xmm3, [rsi + 48]",
    "    movups xmm4, [rsi + 64]",
    "    movups xmm5, [rsi + 80]",
    "    movups xmm6, [rsi + 96]",
    "    movups xmm7, [rsi + 112]",
    "    movups xmm8, [rsi + rdx - 128]",
    "    movups xmm9, [rsi + rdx - 112]",
    "    movups xmm10, [rsi + rdx - 96]",
    "    movups xmm11, [rsi + rdx - 80]",
    "    movups xmm12, [rsi + rdx - 64]",
    "    movups xmm13, [rsi + rdx - 48]",
    "    movups xmm14, [rsi + rdx - 32]",
    "    movups xmm15, [rsi + rdx - 16]",
    "    movups [rdi], xmm0",
    "    movups [rdi + 16], xmm1",
    "    movups [rdi + 32], xmm2",
    "    movups [rdi + 48], xmm3",
    "    movups [rdi + 64], xmm4",
    "    movups [rdi + 80], xmm5",
    "    movups [rdi + 96], xmm6",
    "    movups [rdi + 112], xmm7",
    "    movups [rdi + rdx - 128], xmm8",
    "    movups [rdi + rdx - 112], xmm9",
    "    movups [rdi + rdx - 96], xmm10",
    "    movups [rdi + rdx - 80], xmm11",
    "    movups [rdi + rdx - 64], xmm12",
    "    movups [rdi + rdx - 48], xmm13",
    "    movups [rdi + rdx - 32], xmm14",
    "    movups [rdi + rdx - 16], xmm15",
    "    ret",
    // Longer: forward unless dst lies inside [src, src + n), where a forward
    // copy would overwrite source bytes before reading them.
    ".Lmt_above256:",
    "    mov rcx, rdi",
    "    sub rcx, rsi",
    "    cmp rcx, rdx",
    "    jb .Lmt_backward",
    "    mov rcx, rdx",
    "    rep movsb",
    "    ret",
    // Backward, 16 bytes at a time from the end; the first 16 are read
    // before any store and written last.
    ".Lmt_backward:",
    "    movups xmm0, [rsi]",
    ".Lmt_backward_loop:",
    "    sub rdx, 16",
    "    movups xmm1, [rsi + rdx]",
    "    movups [rdi + rdx], xmm1",
    "    cmp rdx, 16",
    "    ja .Lmt_backward_loop",
    "    movups [rdi], xmm0",
    "    ret",
    ".size moscow_time_memmove, . - moscow_time_memmove",
);

#[cfg(test)]
mod tests {
    unsafe extern "C" {
        fn moscow_time_memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
    }

    /// Bytes that repeat only every 251 positions, so a misplaced byte shows.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| u8::try_from(i % 251).unwrap().wrapping_add(seed))
            .collect()
    }

    #[test]
    fn copies_every_length_and_alignment_and_nothing_else() {
        for n in 0..=600 {
            for src_offset in [0, 1, 3, 7, 8, 15] {
                for dst_offset in [0, 1, 5, 8, 13] {
                    let src = pattern(n + 16, 1);
                    let mut dst = pattern(n + 32, 200);
                    let mut expected = dst.clone();
                    expected[dst_offset..dst_offset + n]
                        .copy_from_slice(&src[src_offset..src_offset + n]);
                    let dst_ptr = dst[dst_offset..].as_mut_ptr();
                    let returned =
                        unsafe { moscow_time_memmove(dst_ptr, src[src_offset..].as_ptr(), n) };
                    assert_eq!(returned, dst_ptr, "return value, n={n}");
                    assert!(dst == expected, "n={n} src+{src_offset} dst+{dst_offset}");
                }
            }
        }
    }

    #[test]
    fn overlapping_copies_match_copy_within_both_ways() {
        for n in 0..=600 {
            for shift in [-300isize, -17, -16, -1, 0, 1, 2, 15, 16, 33, 256, 300] {
                let src_start: usize = 310;
                let dst_start = src_start.checked_add_signed(shift).unwrap();
                let mut buffer = pattern(src_start + n + 320, 3);
                let mut expected = buffer.clone();
                expected.copy_within(src_start..src_start + n, dst_start);
                let base = buffer.as_mut_ptr();
                unsafe { moscow_time_memmove(base.add(dst_start), base.add(src_start), n) };
                assert!(buffer == expected, "n={n} shift={shift}");
            }
        }
    }
}
