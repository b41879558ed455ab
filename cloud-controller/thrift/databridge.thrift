// The WSO2 data bridge's secure event transmission service, as the Stratos 4.1 Python
// cartridge agent calls it to send its health statistics (written for Altostratus from the
// service's published method, argument and field numbering; see docs/PROTOCOL.md).
//
// Regenerate the Rust with Debian's thrift-compiler 0.17:
//   thrift --gen rs -out cloud-controller/src/thrift_receiver cloud-controller/thrift/databridge.thrift
// (cloud-controller/tests/databridge_codegen.rs checks that the committed file is what this gives).

exception ThriftStreamDefinitionException { 1: required string message }
exception ThriftNoStreamDefinitionExistException { 1: required string message }
exception ThriftDifferentStreamDefinitionAlreadyDefinedException { 1: required string message }
exception ThriftMalformedStreamDefinitionException { 1: required string message }
exception ThriftUndefinedEventTypeException { 1: required string message }
exception ThriftSessionExpiredException { 1: required string message }
exception ThriftAuthenticationException { 1: required string message }

// Events of one publish call, their attributes by type: event after event, each one's
// stream id (first string) and timestamp (first long), then its attributes in the order of
// its stream definition (meta, correlation, payload).
struct ThriftEventBundle {
  1: optional string sessionId,
  2: optional i32 eventNum,
  3: optional list<i32> intAttributeList,
  4: optional list<i64> longAttributeList,
  5: optional list<double> doubleAttributeList,
  6: optional list<bool> boolAttributeList,
  7: optional list<string> stringAttributeList,
  8: optional map<i32, map<string, string>> arbitraryDataMapMap,
}

service ThriftSecureEventTransmissionService {
  string connect(1: string userName, 2: string password)
    throws (1: ThriftAuthenticationException ae),
  void disconnect(1: string sessionId),
  string defineStream(1: string sessionId, 2: string streamDefinition)
    throws (1: ThriftDifferentStreamDefinitionAlreadyDefinedException ade,
            2: ThriftMalformedStreamDefinitionException mtd,
            3: ThriftStreamDefinitionException tde,
            4: ThriftSessionExpiredException se),
  string findStreamId(1: string sessionId, 2: string streamName, 3: string streamVersion)
    throws (1: ThriftNoStreamDefinitionExistException tnde, 2: ThriftSessionExpiredException se),
  void publish(1: ThriftEventBundle eventBundle)
    throws (1: ThriftUndefinedEventTypeException ue, 2: ThriftSessionExpiredException se),
  bool deleteStreamById(1: string sessionId, 2: string streamId)
    throws (1: ThriftSessionExpiredException se),
  bool deleteStreamByNameVersion(1: string sessionId, 2: string streamName, 3: string streamVersion)
    throws (1: ThriftSessionExpiredException se),
}
