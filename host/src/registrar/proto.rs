//! Generated code of spire-api-sdk's Entry API protos (being written).
