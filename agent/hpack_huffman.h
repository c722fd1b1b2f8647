/*
 * hpack_huffman.h — the HPACK Huffman code (RFC 7541 Appendix B), encode side only.
 *
 * The agent stores each path route twice in the `routes` LPM trie: as text and as the Huffman code
 * of that text, so that XDP can match a Huffman-coded :path without decoding it (see
 * maps/sluice_maps.h). The tests use the same encoder to build HEADERS frames.
 */
#ifndef SLUICE_HPACK_HUFFMAN_H
#define SLUICE_HPACK_HUFFMAN_H

#include <stddef.h>

/*
 * Huffman-code len bytes of text into out (out_size bytes, zeroed first). Returns the exact number
 * of code bits (no EOS padding). Bits that do not fit in out are dropped: the result is then
 * 8 * out_size and *truncated is set (when truncated is not NULL).
 */
size_t hpack_huffman_encode(const void *text, size_t len, unsigned char *out, size_t out_size,
                            int *truncated);

/* The Huffman-coded string as it goes on the wire: bits padded with 1s (EOS prefix) to a byte. */
size_t hpack_huffman_encode_padded(const void *text, size_t len, unsigned char *out, size_t out_size);

#endif
