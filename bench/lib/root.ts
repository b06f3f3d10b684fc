/** The project root (bench files run from dist/bench/...). */
export const ROOT = new URL('../../../', import.meta.url).pathname;
