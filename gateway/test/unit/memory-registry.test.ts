import { MemoryRegistry } from '../../src/registry/memory-registry.ts';
import { registryContract } from '../support/registry-contract.ts';

// One node: its registries share nothing, so the cross-node cases do not apply.
registryContract('memory', async (node) => new MemoryRegistry(node), { fleet: false });
