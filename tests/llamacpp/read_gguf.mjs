// Reads a GGUF with llama.cpp (node-llama-cpp's prebuilt CPU build; nothing is downloaded or compiled) the way
// Ollama and LM Studio run it, for tests/test_export.py. Input on stdin, JSON:
//   {"model": path, "texts": [string], "prompts": [[token id]]}
// Output on stdout, JSON: "tokens" (llama.cpp's token ids of each text, special tokens parsed as in a chat),
// "detokenized" (those ids back to text), "logits" (the next-token logits after each prompt, by token id).
import {getLlama} from "node-llama-cpp";
import fs from "node:fs";

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true, logLevel: "error"});
const model = await llama.loadModel({modelPath: input.model});
const tokens = input.texts.map((text) => Array.from(model.tokenize(text, true)));
const detokenized = tokens.map((ids) => model.detokenize(ids, true));
const context = await model.createContext({contextSize: 512});
const sequence = context.getSequence();
const logits = [];
for (const prompt of input.prompts) {
    await sequence.clearHistory();
    const items = prompt.map((id, i) => (i === prompt.length - 1 ? [id, {generateNext: {logits: true}}] : id));
    const result = await sequence.controlledEvaluate(items);
    const next = result[result.length - 1].next.logits;
    const row = [];
    for (const [id, value] of next) row[id] = value;
    logits.push(row);
}
process.stdout.write(JSON.stringify({tokens, detokenized, logits}));
await context.dispose();
await model.dispose();
