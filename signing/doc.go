// Package signing makes and checks CloudFront signed URLs and signed
// cookies, byte-compatible with AWS: a URL signed by the AWS SDKs or
// `aws cloudfront sign` verifies here, and one signed here verifies at
// CloudFront.
//
// It holds the CloudFront base64 variant, canned and custom policies (a
// strict parser and the SDK's exact encoding), resource wildcard matching,
// key groups of RSA-2048 and ECDSA P-256 public keys, the signers
// (URLSigner, CookieSigner) and the Verifier, which decides a request the
// way CloudFront does and answers with CloudFront's error codes and XML.
//
// It does not speak HTTP: the edge fills a Request from the request line
// and the viewer's address, calls Verify, sends Error.Body() with status
// 403 on failure, and on success forwards Result.StrippedQuery (and the
// Cookie header through StripCookies) to the origin and the cache key.
//
// Verify:
//
//	pub, _ := signing.ParsePublicKeyPEM("K2JCJMDEHXQW5F", pemBytes)
//	v, _ := signing.NewVerifier([]signing.KeyGroup{{Name: "main", Keys: []signing.PublicKey{pub}}})
//	trusted, _ := v.Trust("main") // once per cache behaviour and config snapshot
//	res, err := trusted.Verify(&signing.Request{Scheme: "https", Host: host,
//		RawPath: rawPath, RawQuery: rawQuery, Cookies: cookieHeader, ClientIP: peer})
//	var se *signing.Error
//	if errors.As(err, &se) { status, body = 403, se.Body() }
//
// Sign:
//
//	key, _ := signing.ParsePrivateKeyPEM(pemBytes)
//	s, _ := signing.NewURLSigner("K2JCJMDEHXQW5F", key)
//	signed, _ := s.Sign("https://cdn.example.com/a.jpg", time.Now().Add(time.Hour))
package signing
