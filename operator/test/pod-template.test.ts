/**
 * The gateway pods' template from spec.podTemplate, spec.resources and the
 * secret-bearing settings: what a platform team needs to run the fleet on a
 * shared cluster (pull secrets, identity, placement, TLS volumes, variables
 * from Secrets), with safe defaults when nothing is set.
 */
import { describe, expect, it } from 'vitest';
import { withDefaults, type IMGateway, type IMGatewaySpec } from '../src/api/v1alpha1/types.ts';
import { buildDeployment } from '../src/resources/owned.ts';
import { selectorLabels } from '../src/resources/labels.ts';
import { REQUIRED_GATEWAY } from './support/spec.ts';

const fleet = (spec: Partial<IMGatewaySpec> = {}): IMGateway => ({
  apiVersion: 'imgateway.io/v1alpha1',
  kind: 'IMGateway',
  metadata: { name: 'chat', namespace: 'im', uid: 'u-1' },
  spec: { gateway: REQUIRED_GATEWAY, ...spec },
});
const podOf = (gw: IMGateway) => buildDeployment(gw, withDefaults(gw.spec), 3).spec!.template;

describe('the gateway pod template', () => {
  it('spreads over zones and hosts, per rollout, and requests resources when nothing is set', () => {
    const pod = podOf(fleet());
    const spread = (topologyKey: string) => ({
      maxSkew: 1,
      topologyKey,
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: selectorLabels('chat') },
      matchLabelKeys: ['pod-template-hash'],
    });
    expect(pod.spec!.topologySpreadConstraints).toEqual([spread('topology.kubernetes.io/zone'), spread('kubernetes.io/hostname')]);
    expect(pod.spec!.containers[0]!.resources).toEqual({ requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } });
    for (const field of ['imagePullSecrets', 'serviceAccountName', 'nodeSelector', 'affinity', 'tolerations', 'priorityClassName', 'volumes']) {
      expect(pod.spec, field).not.toHaveProperty(field);
    }
  });

  it('carries every podTemplate field to the pods, and an empty spread list turns spreading off', () => {
    const gw = fleet({
      resources: { requests: { cpu: '2', memory: '4Gi' } },
      podTemplate: {
        labels: { team: 'chat', 'app.kubernetes.io/instance': 'hijack' },
        annotations: { 'sidecar.istio.io/inject': 'false' },
        serviceAccountName: 'chat-gateway',
        imagePullSecrets: [{ name: 'registry-creds' }],
        nodeSelector: { pool: 'edge' },
        affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'x' } } }] } },
        tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }],
        topologySpreadConstraints: [],
        priorityClassName: 'user-facing',
        volumes: [{ name: 'tls', secret: { secretName: 'chat-tls' } }],
        volumeMounts: [{ name: 'tls', mountPath: '/etc/im-gateway/tls', readOnly: true }],
        envFrom: [{ secretRef: { name: 'chat-extra' } }],
      },
    });
    const pod = podOf(gw);
    // The fleet's own labels win: the Deployment's selector must keep matching its pods.
    expect(pod.metadata!.labels).toMatchObject({ team: 'chat', ...selectorLabels('chat') });
    expect(pod.metadata!.annotations).toEqual({ 'sidecar.istio.io/inject': 'false' });
    expect(pod.spec).toMatchObject({
      serviceAccountName: 'chat-gateway',
      imagePullSecrets: [{ name: 'registry-creds' }],
      nodeSelector: { pool: 'edge' },
      tolerations: [{ key: 'edge', operator: 'Exists', effect: 'NoSchedule' }],
      topologySpreadConstraints: [],
      priorityClassName: 'user-facing',
      volumes: [{ name: 'tls', secret: { secretName: 'chat-tls' } }],
    });
    expect(pod.spec!.affinity).toEqual(gw.spec.podTemplate!.affinity);
    const container = pod.spec!.containers[0]!;
    expect(container.volumeMounts).toEqual([{ name: 'tls', mountPath: '/etc/im-gateway/tls', readOnly: true }]);
    expect(container.envFrom).toEqual([{ secretRef: { name: 'chat-extra' } }]);
    expect(container.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' } });
    // The builder copies: the spec it was given is not shared with the object sent to the API server.
    pod.spec!.tolerations!.push({ key: 'x' });
    expect(gw.spec.podTemplate!.tolerations).toHaveLength(1);
  });

  it('takes REDIS_URL and further variables from Secrets, so no password sits in the IMGateway', () => {
    const { redisUrl: _inline, ...gateway } = REQUIRED_GATEWAY;
    const gw = fleet({
      gateway: {
        ...gateway,
        redisUrlSecretRef: { name: 'redis', key: 'url' },
        env: [{ name: 'ALLOWED_ORIGINS', value: 'https://chat.example' }, { name: 'TLS_KEY_PASSWORD', valueFrom: { secretKeyRef: { name: 'tls', key: 'password' } } }],
      },
    });
    const env = podOf(gw).spec!.containers[0]!.env!;
    expect(env.filter((e) => e.name === 'REDIS_URL')).toEqual([{ name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'redis', key: 'url' } } }]);
    expect(env).toContainEqual({ name: 'TLS_KEY_PASSWORD', valueFrom: { secretKeyRef: { name: 'tls', key: 'password' } } });
    expect(env).toContainEqual({ name: 'ALLOWED_ORIGINS', value: 'https://chat.example' });
  });
});
