// Original file: proto/im/gateway/v1/peer_service.proto


export interface CloseLocalResponse {
  'closed_count'?: (number);
}

export interface CloseLocalResponse__Output {
  'closed_count': (number);
}
