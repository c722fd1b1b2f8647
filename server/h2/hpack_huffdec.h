/*
 * hpack_huffdec.h — the state machine that decodes HPACK Huffman strings (RFC 7541 5.2, Appendix B)
 * a byte at a time, as server/h2/hpack.c runs it.
 *
 * A state is an inner node of the Huffman tree (256 of them; 0 is the root). hpack_huffdec_table[s][b]
 * is where byte b, read most significant bit first from state s, leads: the next state and the
 * symbols it completes (codes are 5 to 30 bits long, so a byte completes at most two). A byte, not a
 * nibble, per step halves the chain of dependent loads that bounds the decoder's speed (one load and
 * a shift per byte); the table is 256 KB, of which a string touches a few cache lines per state it
 * passes through. It is not written by hand: tools/gen/hpack_huffgen.c builds it from the one code
 * table, common/hpack_huffman.c, into $(BUILD)/gen/server/h2/hpack_huffdec.c at build time (STYLE.md 3).
 */
#ifndef SLUICE_HPACK_HUFFDEC_H
#define SLUICE_HPACK_HUFFDEC_H

#include <stdint.h>

/* flags: the number of symbols the byte completes (NSYMS, 0-2); a string may end in state next, the
 * bits since its last symbol being 0-7 ones (ACCEPT); the byte completes EOS, which no string may
 * contain (FAIL: no symbol, next is the root) */
#define HPACK_HUFFDEC_NSYMS  0x03
#define HPACK_HUFFDEC_ACCEPT 0x04
#define HPACK_HUFFDEC_FAIL   0x08

struct hpack_huffdec {
    uint8_t next; /* the next state */
    uint8_t flags;
    uint8_t sym[2];
};

extern const struct hpack_huffdec hpack_huffdec_table[256][256];

#endif
