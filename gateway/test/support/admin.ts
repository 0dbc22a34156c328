/** Admin REST calls the tests use to set up groups. */
import { ADMIN_TOKEN } from './gateway.ts';

export async function addMember(httpUrl: string, groupId: string, userId: string): Promise<Response> {
  return fetch(`${httpUrl}/v1/groups/${groupId}/members/${userId}`, { method: 'PUT', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
}

export async function removeMember(httpUrl: string, groupId: string, userId: string): Promise<Response> {
  return fetch(`${httpUrl}/v1/groups/${groupId}/members/${userId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
}
