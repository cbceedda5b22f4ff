# Local settings for CommCare HQ development.
import os

DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql_psycopg2',
        'NAME': 'commcarehq',
        'USER': 'commcarehq',
        'PASSWORD': 'commcarehq',
        'HOST': 'localhost',
        'PORT': '5432',
        'TEST': {'SERIALIZE': False},
    },
}

REPORTING_DATABASES = {'default': 'default', 'ucr': 'default'}

if os.environ.get('DEBUG_SQL'):
    LOGGING = {'version': 1}

LOCAL_APPS = ()
