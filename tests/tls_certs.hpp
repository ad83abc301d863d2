// A certificate authority made at test time, for the TLS tests, the TLS fuzz target and the TLS
// benchmark: EC P-256 keys and X.509 v3 certificates written as PEM files into a directory.
// OpenSSL and the standard library only (no doctest), so fuzz/ and bench/ include it too; the
// doctest helpers stay in support.hpp. Nothing here is a test: a failure throws
// std::runtime_error with OpenSSL's reason.
#ifndef PYSOCK_TESTS_TLS_CERTS_HPP
#define PYSOCK_TESTS_TLS_CERTS_HPP

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

namespace pysock_tls_certs {

inline void check(bool ok, const char* what) {
    if (ok) return;
    char reason[256] = "no reason given";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    throw std::runtime_error(std::string("tls_certs: ") + what + ": " + reason);
}

struct key_deleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
    void operator()(X509* x) const { X509_free(x); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

/// A key and the certificate for it.
struct identity {
    key_ptr key;
    cert_ptr cert;
};

/// What a certificate says besides its name: its validity (seconds from now), whether it is a
/// CA, and its subjectAltName ("DNS:localhost,IP:127.0.0.1").
struct profile {
    long not_before = -3600;
    long not_after = 30L * 24 * 3600;
    bool ca = false;
    std::string alt_names = "DNS:localhost,IP:127.0.0.1,IP:::1";
};

inline void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/// A certificate for a new key named `common_name`, signed by `issuer` (self-signed when null).
inline identity issue(const std::string& common_name, const profile& p,
                      const identity* issuer = nullptr) {
    identity out;
    out.key.reset(EVP_EC_gen("P-256"));
    check(out.key != nullptr, "EVP_EC_gen");
    out.cert.reset(X509_new());
    X509* x = out.cert.get();
    check(x != nullptr, "X509_new");
    X509_set_version(x, 2);  // v3
    unsigned char serial[8];
    check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
    serial[0] &= 0x7f;  // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), p.not_before);
    X509_gmtime_adj(X509_getm_notAfter(x), p.not_after);
    X509_set_pubkey(x, out.key.get());
    X509_NAME* name = X509_get_subject_name(x);
    auto add = [&](const char* field, const std::string& value) {
        X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0);
    };
    add("C", "FR");
    add("O", "pysock tests");
    add("CN", common_name);
    X509* issuer_cert = issuer ? issuer->cert.get() : x;
    X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer_cert, x, nullptr, nullptr, 0);
    add_extension(x, &ctx, NID_subject_key_identifier, "hash");
    add_extension(x, &ctx, NID_authority_key_identifier, "keyid:always");
    if (p.ca) {
        add_extension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(x, &ctx, NID_basic_constraints, "CA:FALSE");
        add_extension(x, &ctx, NID_key_usage, "critical,digitalSignature");
        add_extension(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
        if (!p.alt_names.empty()) add_extension(x, &ctx, NID_subject_alt_name, p.alt_names);
    }
    EVP_PKEY* signer = issuer ? issuer->key.get() : out.key.get();
    check(X509_sign(x, signer, EVP_sha256()) > 0, "X509_sign");
    return out;
}

inline void write_cert(const std::string& path, X509* cert) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    check(f != nullptr, "fopen");
    int ok = PEM_write_X509(f, cert);
    std::fclose(f);
    check(ok == 1, "PEM_write_X509");
}

/// The key as PKCS#8 PEM, encrypted with AES-256 when `password` is not empty.
inline void write_key(const std::string& path, EVP_PKEY* key, const std::string& password = "") {
    std::FILE* f = std::fopen(path.c_str(), "w");
    check(f != nullptr, "fopen");
    int ok = password.empty()
                 ? PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr)
                 : PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(),
                                        reinterpret_cast<const unsigned char*>(password.data()),
                                        static_cast<int>(password.size()), nullptr, nullptr);
    std::fclose(f);
    check(ok == 1, "PEM_write_PrivateKey");
}

/// The files every TLS test uses, written into `dir` (which must exist):
///   ca.pem                  the test CA (trust this)
///   server.pem, server.key  localhost / 127.0.0.1 / ::1, signed by the CA
///   server-encrypted.key    server.key encrypted with the password "secret"
///   client.pem, client.key  a client certificate ("pysock client"), signed by the CA
///   expired.pem, expired.key       localhost, signed by the CA, expired yesterday
///   self-signed.pem, self-signed.key   localhost, signed by itself
///   other.pem, other.key    signed by the CA, for "other.example" only (a name mismatch)
struct test_pki {
    std::string dir;
    std::string path(const std::string& name) const { return dir + "/" + name; }
    std::string ca() const { return path("ca.pem"); }

    explicit test_pki(std::string directory) : dir(std::move(directory)) {
        profile ca_profile;
        ca_profile.ca = true;
        identity ca_id = issue("pysock test CA", ca_profile);
        write_cert(ca(), ca_id.cert.get());
        auto leaf = [&](const std::string& base, const std::string& cn, const profile& p,
                        const identity* by) {
            identity id = issue(cn, p, by);
            write_cert(path(base + ".pem"), id.cert.get());
            write_key(path(base + ".key"), id.key.get());
            return id;
        };
        identity server = leaf("server", "localhost", profile{}, &ca_id);
        write_key(path("server-encrypted.key"), server.key.get(), "secret");
        profile client;
        client.alt_names = "";
        leaf("client", "pysock client", client, &ca_id);
        profile expired;
        expired.not_before = -2 * 24 * 3600;
        expired.not_after = -24 * 3600;
        leaf("expired", "localhost", expired, &ca_id);
        leaf("self-signed", "localhost", profile{}, nullptr);
        profile other;
        other.alt_names = "DNS:other.example";
        leaf("other", "other.example", other, &ca_id);
    }
};

}  // namespace pysock_tls_certs

#endif  // PYSOCK_TESTS_TLS_CERTS_HPP
