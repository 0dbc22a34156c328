/**
 * What the operator writes for the gRPC port: its own ClusterIP Service, never
 * the public one, the credentials from the spec's Secrets, and the optional
 * NetworkPolicy. Pure builders, checked without a cluster (e2e/operator.test.ts
 * has the API server accept them).
 */
import { describe, expect, it } from 'vitest';
import { withDefaults, type IMGateway, type IMGatewaySpec } from '../src/api/v1alpha1/types.ts';
import { buildGrpcService, buildNetworkPolicy, buildService, gatewayEnv } from '../src/resources/owned.ts';
import { selectorLabels } from '../src/resources/labels.ts';
import { REQUIRED_GATEWAY } from './support/spec.ts';

const spec: IMGatewaySpec = {
  gateway: REQUIRED_GATEWAY,
  service: { type: 'LoadBalancer', port: 443, grpcPort: 9093, annotations: { 'lb.example/public': 'true' } },
};
const gw: IMGateway = { apiVersion: 'imgateway.io/v1alpha1', kind: 'IMGateway', metadata: { name: 'chat', namespace: 'im', uid: 'u-1' }, spec };
const operator = { namespace: 'imgw-system', labels: { 'app.kubernetes.io/name': 'im-gateway-operator' } };

describe('the Services of a fleet', () => {
  it('keep gRPC off the public Service, whatever its type', () => {
    const service = buildService(gw, withDefaults(spec));
    expect(service.spec!.type).toBe('LoadBalancer');
    expect(service.spec!.ports).toEqual([{ name: 'http', port: 443, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('put gRPC on <name>-grpc, ClusterIP, without the public Service’s annotations', () => {
    const grpc = buildGrpcService(gw, withDefaults(spec));
    expect(grpc.metadata!.name).toBe('chat-grpc');
    expect(grpc.metadata!.annotations).toEqual({});
    expect(grpc.metadata!.ownerReferences).toMatchObject([{ uid: 'u-1', controller: true }]);
    expect(grpc.spec).toEqual({ type: 'ClusterIP', selector: selectorLabels('chat'), ports: [{ name: 'grpc', port: 9093, targetPort: 'grpc', protocol: 'TCP' }] });
  });
});

describe('the gateway environment', () => {
  it('takes the gRPC API tokens and the fleet secret from the referenced Secrets', () => {
    const env = gatewayEnv(gw, withDefaults(spec));
    expect(env).toContainEqual({ name: 'GRPC_API_TOKENS', valueFrom: { secretKeyRef: { name: 'grpc-api', key: 'tokens' } } });
    expect(env).toContainEqual({ name: 'FLEET_SECRET', valueFrom: { secretKeyRef: { name: 'fleet', key: 'secret' } } });
  });
});

describe('the NetworkPolicy', () => {
  it('leaves HTTP open and admits gRPC from the fleet, the operator and the named namespaces only', () => {
    const policy = buildNetworkPolicy(gw, withDefaults({ ...spec, networkPolicy: { enabled: true, grpcFromNamespaces: ['backend', 'jobs'] } }), operator);
    expect(policy.metadata!.name).toBe('chat');
    expect(policy.spec!.podSelector).toEqual({ matchLabels: selectorLabels('chat') });
    expect(policy.spec!.policyTypes).toEqual(['Ingress']);
    const [http, grpc] = policy.spec!.ingress!;
    expect(http).toEqual({ ports: [{ port: 'http', protocol: 'TCP' }] });
    expect(grpc!.ports).toEqual([{ port: 'grpc', protocol: 'TCP' }]);
    const ns = (name: string) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });
    expect(grpc!._from).toEqual([
      { podSelector: { matchLabels: selectorLabels('chat') } },
      { ...ns('imgw-system'), podSelector: { matchLabels: operator.labels } },
      ns('backend'),
      ns('jobs'),
    ]);
  });

  it('admits gRPC from the fleet and the operator alone when no namespace is named', () => {
    const policy = buildNetworkPolicy(gw, withDefaults({ ...spec, networkPolicy: { enabled: true } }), operator);
    expect(policy.spec!.ingress![1]!._from).toHaveLength(2);
  });
});
