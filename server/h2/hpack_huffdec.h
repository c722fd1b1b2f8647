/*
 * hpack_huffdec.h — the state machine that decodes HPACK Huffman strings (RFC 7541 5.2, Appendix B)
 * four bits at a time, as server/h2/hpack.c runs it.
 *
 * A state is an inner node of the Huffman tree (256 of them; 0 is the root). hpack_huffdec_table[s][x]
 * is where nibble x, read most significant bit first from state s, leads: the next state, and the
 * symbol it completes, if any (codes are 5 to 30 bits long, so a nibble completes at most one). The
 * next state is stored as its row's offset in the table seen as one array (state * 16), so that the
 * decoder's chain of dependent loads is a load and an add per nibble, nothing more. The
 * table is not written by hand: tools/gen/hpack_huffgen.c builds it from the one code table,
 * common/hpack_huffman.c, into $(BUILD)/gen/server/h2/hpack_huffdec.c at build time (STYLE.md 3).
 */
#ifndef SLUICE_HPACK_HUFFDEC_H
#define SLUICE_HPACK_HUFFDEC_H

#include <stdint.h>

/* flags: the nibble completes symbol sym (SYM); a string may end in state next, the bits since its
 * last symbol being 0-7 ones (ACCEPT); the nibble completes EOS, which no string may contain (FAIL) */
#define HPACK_HUFFDEC_SYM    0x01
#define HPACK_HUFFDEC_ACCEPT 0x02
#define HPACK_HUFFDEC_FAIL   0x04

struct hpack_huffdec {
    uint16_t next; /* the next state * 16 */
    uint8_t flags;
    uint8_t sym;
};

extern const struct hpack_huffdec hpack_huffdec_table[256][16];

#endif
