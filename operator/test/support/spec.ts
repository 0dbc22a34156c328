/** The gateway part of an IMGateway spec with only the required fields: the fixture the operator's tests build on. */
import type { IMGatewaySpec } from '../../src/api/v1alpha1/types.ts';

export const REQUIRED_GATEWAY: IMGatewaySpec['gateway'] = {
  etcdEndpoints: ['http://etcd:2379'],
  redisUrl: 'redis://redis:6379',
  kafkaBrokers: ['kafka:9092'],
  jwt: { secretRef: { name: 'jwt', key: 'secret' } },
  adminTokenSecretRef: { name: 'admin', key: 'token' },
  grpcApiTokensSecretRef: { name: 'grpc-api', key: 'tokens' },
  fleetSecretRef: { name: 'fleet', key: 'secret' },
};
