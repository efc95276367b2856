// Types of scripts/build.mjs, for the TypeScript that imports it (bench/).
import type { BuildOptions } from 'esbuild';

export declare const ROOT: string;
export declare const DIST: string;
export declare const BUNDLE_OPTIONS: BuildOptions;
export declare function bundle(entryPoints: string[], outdir: string): Promise<void>;
export declare function build(options?: { force?: boolean; quiet?: boolean }): Promise<boolean>;
