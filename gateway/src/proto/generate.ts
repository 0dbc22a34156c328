/**
 * Writes the TypeScript types of the gRPC services in proto/ into
 * `generated/` with `@grpc/proto-loader`'s generator (`npm run proto:types`).
 * The output is type-only (interfaces and `import type`), so Node runs it with
 * type stripping as it is. The options match the loader in `services.ts`:
 * field names as in the .proto, int64 as number, defaults filled in.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GENERATED_DIR = fileURLToPath(new URL('./generated', import.meta.url));
export const PROTO_FILES = ['im/gateway/v1/im_gateway_service.proto', 'im/gateway/v1/peer_service.proto'];

const GENERATOR = createRequire(import.meta.url).resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');

/** Replaces `outDir` with freshly generated types. */
export function generateTypes(outDir: string = GENERATED_DIR): void {
  rmSync(outDir, { recursive: true, force: true });
  // Run from the repository root: the files record their source as proto/..., the same on every checkout.
  execFileSync(
    process.execPath,
    [
      GENERATOR,
      '--keepCase', '--longs', 'Number', '--defaults', '--includeComments',
      '--grpcLib', '@grpc/grpc-js', '--importFileExtension', '.ts',
      '-I', 'proto', '-O', outDir, ...PROTO_FILES,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) generateTypes();
