;; PostgreSQL's data checksum (storage/checksum_impl.h) of many 8 KiB pages at once,
;; with SIMD: the algorithm's 32 lanes of FNV-1a-like sums are 8 vectors of 4. Each
;; page's checksum is computed as the server does, pd_checksum (the low half of the
;; page's third 32-bit word) taken as zero; words are little-endian, as on the x86 and
;; ARM servers that wrote them.
;;
;; Memory: up to 128 pages from offset 0 (1 MiB), the checksums after them as u16s.
;; Source of services/archive/src/chunking/page-checksum-wasm.ts
;; (scripts/page-checksum-wasm.mjs writes it; a test checks that it matches).
(module
  (memory (export "memory") 17)
  ;; checksums(count, firstBlock): the checksum of page p (block firstBlock + p) goes to
  ;; 1048576 + 2p, as PostgreSQL stores it: (sum xor block) mod 65535 + 1.
  (func (export "checksums") (param $count i32) (param $firstBlock i32)
    (local $p i32) (local $at i32) (local $end i32) (local $sum i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $m v128) (local $v v128) (local $prime v128)
    (local.set $prime (i32x4.splat (i32.const 16777619)))
    (block $done
      (loop $page
        (br_if $done (i32.ge_u (local.get $p) (local.get $count)))
        (local.set $at (i32.shl (local.get $p) (i32.const 13)))
        (local.set $end (i32.add (local.get $at) (i32.const 8192)))
        (local.set $a0 (v128.const i32x4 0x5b1f36e9 0xb8525960 0x02ab50aa 0x1de66d2a))
        (local.set $a1 (v128.const i32x4 0x79ff467a 0x9bb9f8a3 0x217e7cd2 0x83e13d2c))
        (local.set $a2 (v128.const i32x4 0xf8d4474f 0xe39eb970 0x42c6ae16 0x993216fa))
        (local.set $a3 (v128.const i32x4 0x7b093b5d 0x98daff3c 0xf718902a 0x0b1c9cdb))
        (local.set $a4 (v128.const i32x4 0xe58f764b 0x187636bc 0x5d7b3bb1 0xe73de7de))
        (local.set $a5 (v128.const i32x4 0x92bec979 0xcca6c0b2 0x304a0979 0x85aa43d4))
        (local.set $a6 (v128.const i32x4 0x783125bb 0x6ca8eaa2 0xe407eac6 0x4b5cfc3e))
        (local.set $a7 (v128.const i32x4 0x9fbf8c76 0x15ca20be 0xf2ca9fd3 0x959bd756))
        ;; The first row: pd_checksum (word 2's low half) counts as zero.
        (local.set $v (v128.load (local.get $at)))
        (local.set $v (i32x4.replace_lane 2 (local.get $v)
          (i32.and (i32x4.extract_lane 2 (local.get $v)) (i32.const 0xffff0000))))
        (local.set $m (v128.xor (local.get $a0) (local.get $v)))
        (local.set $a0 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $m (v128.xor (local.get $a1) (v128.load offset=16 (local.get $at))))
        (local.set $a1 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $m (v128.xor (local.get $a2) (v128.load offset=32 (local.get $at))))
        (local.set $a2 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $m (v128.xor (local.get $a3) (v128.load offset=48 (local.get $at))))
        (local.set $a3 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $m (v128.xor (local.get $a4) (v128.load offset=64 (local.get $at))))
        (local.set $a4 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $m (v128.xor (local.get $a5) (v128.load offset=80 (local.get $at))))
        (local.set $a5 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $m (v128.xor (local.get $a6) (v128.load offset=96 (local.get $at))))
        (local.set $a6 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $m (v128.xor (local.get $a7) (v128.load offset=112 (local.get $at))))
        (local.set $a7 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
        (local.set $at (i32.add (local.get $at) (i32.const 128)))
        (loop $row
          (local.set $m (v128.xor (local.get $a0) (v128.load (local.get $at))))
          (local.set $a0 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $m (v128.xor (local.get $a1) (v128.load offset=16 (local.get $at))))
          (local.set $a1 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $m (v128.xor (local.get $a2) (v128.load offset=32 (local.get $at))))
          (local.set $a2 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $m (v128.xor (local.get $a3) (v128.load offset=48 (local.get $at))))
          (local.set $a3 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $m (v128.xor (local.get $a4) (v128.load offset=64 (local.get $at))))
          (local.set $a4 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $m (v128.xor (local.get $a5) (v128.load offset=80 (local.get $at))))
          (local.set $a5 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $m (v128.xor (local.get $a6) (v128.load offset=96 (local.get $at))))
          (local.set $a6 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $m (v128.xor (local.get $a7) (v128.load offset=112 (local.get $at))))
          (local.set $a7 (v128.xor (i32x4.mul (local.get $m) (local.get $prime)) (i32x4.shr_u (local.get $m) (i32.const 17))))
          (local.set $at (i32.add (local.get $at) (i32.const 128)))
          (br_if $row (i32.lt_u (local.get $at) (local.get $end))))
        ;; Two rounds of zeros, then the lanes folded by xor.
        (local.set $a0 (v128.xor (i32x4.mul (local.get $a0) (local.get $prime)) (i32x4.shr_u (local.get $a0) (i32.const 17))))
        (local.set $a1 (v128.xor (i32x4.mul (local.get $a1) (local.get $prime)) (i32x4.shr_u (local.get $a1) (i32.const 17))))
        (local.set $a2 (v128.xor (i32x4.mul (local.get $a2) (local.get $prime)) (i32x4.shr_u (local.get $a2) (i32.const 17))))
        (local.set $a3 (v128.xor (i32x4.mul (local.get $a3) (local.get $prime)) (i32x4.shr_u (local.get $a3) (i32.const 17))))
        (local.set $a4 (v128.xor (i32x4.mul (local.get $a4) (local.get $prime)) (i32x4.shr_u (local.get $a4) (i32.const 17))))
        (local.set $a5 (v128.xor (i32x4.mul (local.get $a5) (local.get $prime)) (i32x4.shr_u (local.get $a5) (i32.const 17))))
        (local.set $a6 (v128.xor (i32x4.mul (local.get $a6) (local.get $prime)) (i32x4.shr_u (local.get $a6) (i32.const 17))))
        (local.set $a7 (v128.xor (i32x4.mul (local.get $a7) (local.get $prime)) (i32x4.shr_u (local.get $a7) (i32.const 17))))
        (local.set $a0 (v128.xor (i32x4.mul (local.get $a0) (local.get $prime)) (i32x4.shr_u (local.get $a0) (i32.const 17))))
        (local.set $a1 (v128.xor (i32x4.mul (local.get $a1) (local.get $prime)) (i32x4.shr_u (local.get $a1) (i32.const 17))))
        (local.set $a2 (v128.xor (i32x4.mul (local.get $a2) (local.get $prime)) (i32x4.shr_u (local.get $a2) (i32.const 17))))
        (local.set $a3 (v128.xor (i32x4.mul (local.get $a3) (local.get $prime)) (i32x4.shr_u (local.get $a3) (i32.const 17))))
        (local.set $a4 (v128.xor (i32x4.mul (local.get $a4) (local.get $prime)) (i32x4.shr_u (local.get $a4) (i32.const 17))))
        (local.set $a5 (v128.xor (i32x4.mul (local.get $a5) (local.get $prime)) (i32x4.shr_u (local.get $a5) (i32.const 17))))
        (local.set $a6 (v128.xor (i32x4.mul (local.get $a6) (local.get $prime)) (i32x4.shr_u (local.get $a6) (i32.const 17))))
        (local.set $a7 (v128.xor (i32x4.mul (local.get $a7) (local.get $prime)) (i32x4.shr_u (local.get $a7) (i32.const 17))))
        (local.set $v (v128.xor
          (v128.xor (v128.xor (local.get $a0) (local.get $a1)) (v128.xor (local.get $a2) (local.get $a3)))
          (v128.xor (v128.xor (local.get $a4) (local.get $a5)) (v128.xor (local.get $a6) (local.get $a7)))))
        (local.set $sum (i32.xor
          (i32.xor (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
          (i32.xor (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))
        (i32.store16 offset=1048576 (i32.shl (local.get $p) (i32.const 1))
          (i32.add
            (i32.rem_u (i32.xor (local.get $sum) (i32.add (local.get $firstBlock) (local.get $p))) (i32.const 65535))
            (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $page)))))
