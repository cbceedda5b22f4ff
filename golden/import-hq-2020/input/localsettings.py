# Test fixture written for citusgen: the constructs of CommCare HQ's 2020
# docker/localsettings.py (a literal DATABASES, an update inside an if, the
# Citus alias in an update of its own), plus a flag set twice (the last one
# counts) and a reporting entry added by subscript after the whole dict.
import os

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'app',
        'USER': 'appuser',
        'PASSWORD': 'apppass',
        'HOST': 'postgres',
        'PORT': '5432',
        'TEST': {
            'SERIALIZE': False,
        },
    },
}

USE_SHARDS = os.environ.get('USE_SHARDS', 'no') == 'yes'
if USE_SHARDS:
    DATABASES.update({
        'shard1': {
            'ENGINE': 'django.db.backends.postgresql',
            'NAME': 'app_shard1',
            'USER': 'appuser',
            'PASSWORD': 'apppass',
            'HOST': 'postgres',
            'PORT': '5432',
        },
    })

# the reporting cluster
DATABASES.update({
    'reports': {
        'ENGINE': 'django.db.backends.postgresql',
        'DISABLE_SERVER_SIDE_CURSORS': True,
        'NAME': 'reports_citus',
        'USER': 'appuser',
        'PASSWORD': 'apppass',
        'HOST': 'citus_master',
        'PORT': '5432',
        'TEST': {
            'SERIALIZE': False,
        },
    },
})

REPORTS_USE_CITUS = False
REPORTS_USE_CITUS = True

CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}

SECRET_KEY = 'fixture'

REPORTING_DATABASES = {
    'default': 'default',
    'ucr': 'default',
}
REPORTING_DATABASES['reports-citus'] = 'reports'

