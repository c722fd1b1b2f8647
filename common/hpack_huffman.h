/*
 * hpack_huffman.h — the HPACK Huffman code (RFC 7541 Appendix B), defined once for everyone who needs
 * it: the agent, the XDP tests and bench, and the server's HPACK codec (server/h2/hpack.c).
 *
 * The agent stores each path route twice in the `routes` LPM trie: as text and as the Huffman code
 * of that text, so that XDP can match a Huffman-coded :path without decoding it (see
 * maps/sluice_maps.h). The tests use the same encoder to build HEADERS frames. The server's HPACK
 * encoder codes response field values with hpack_huffman_pack; its decoder runs a state machine
 * whose table a build-time generator (tools/gen/hpack_huffgen.c) derives from hpack_huffman_codes,
 * so the codes exist in one place only. Nothing here allocates or keeps state.
 */
#ifndef SLUICE_HPACK_HUFFMAN_H
#define SLUICE_HPACK_HUFFMAN_H

#include <stddef.h>
#include <stdint.h>

/* The code of one symbol: its bits right-aligned in code, as the RFC prints them in hex. */
struct hpack_huffman_code {
    uint32_t code;
    uint8_t bits;
};

#define HPACK_HUFFMAN_EOS 256 /* the 30-bit end-of-string symbol: only ever seen as padding */

/* The RFC's table: symbols 0-255 and EOS (256). */
extern const struct hpack_huffman_code hpack_huffman_codes[257];

/*
 * Huffman-code len bytes of text into out (out_size bytes, zeroed first). Returns the exact number
 * of code bits (no EOS padding). Bits that do not fit in out are dropped: the result is then
 * 8 * out_size and *truncated is set (when truncated is not NULL).
 */
size_t hpack_huffman_encode(const void *text, size_t len, unsigned char *out, size_t out_size,
                            int *truncated);

/* The Huffman-coded string as it goes on the wire: bits padded with 1s (EOS prefix) to a byte. */
size_t hpack_huffman_encode_padded(const void *text, size_t len, unsigned char *out, size_t out_size);

/* The length in bytes of text Huffman-coded and padded, as hpack_huffman_pack writes it. */
size_t hpack_huffman_encoded_len(const void *text, size_t len);

/*
 * The fast form of hpack_huffman_encode_padded for a buffer known to be large enough: writes exactly
 * hpack_huffman_encoded_len(text, len) bytes to out (nothing else) and returns that count.
 */
size_t hpack_huffman_pack(const void *text, size_t len, uint8_t *out);

#endif
