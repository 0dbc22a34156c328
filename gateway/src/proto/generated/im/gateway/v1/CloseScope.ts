// Original file: proto/im/gateway/v1/im_gateway_service.proto

export const CloseScope = {
  CLOSE_SCOPE_FLEET: 0,
  CLOSE_SCOPE_LOCAL: 1,
} as const;

export type CloseScope =
  | 'CLOSE_SCOPE_FLEET'
  | 0
  | 'CLOSE_SCOPE_LOCAL'
  | 1

export type CloseScope__Output = typeof CloseScope[keyof typeof CloseScope]
