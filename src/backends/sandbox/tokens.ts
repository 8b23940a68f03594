/**
 * AIOpsLab counts in_tokens/out_tokens with tiktoken (gpt-3.5-turbo, cl100k_base) over the
 * session trace. The sandbox has no tokenizer, so it approximates: cl100k's pre-tokenizer
 * split, then one token per 4 characters of each piece (rounded up). Typically within ~10%
 * of tiktoken on English, code and kubectl output; the gateway's usage figures are the true
 * counts of what a model was sent.
 */
const PRE_TOKENIZER =
  /'(?:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/giu;

export function approximateTokens(text: string): number {
  let count = 0;
  for (const match of text.matchAll(PRE_TOKENIZER)) count += Math.max(1, Math.ceil(match[0].length / 4));
  return count;
}
